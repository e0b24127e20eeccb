-- One row per response per facet it is reported under besides its team (key: response_row,
-- facet_kind, facet): the group its answer to a `group_by` item puts it in (facet_kind 'group',
-- e.g. facet 'role', facet_level 'Nurse'), and its band on each exposure item (facet_kind
-- 'exposure', facet the item id, facet_level the band id). An unanswered item, or an answer in no
-- exposure band, puts the response in no group of that facet.
-- Built incrementally by wave: a build with new responses rebuilds only their waves' rows.
-- materialized: incremental by wave
with responses as (
    select * from stg_survey__responses
    where in_rebuilt_waves(wave)
),

answers as (
    select * from stg_survey__answers
),

items as (
    select * from seed_item_definitions
),

options as (
    select * from seed_answer_options
),

exposure_bands as (
    select * from seed_exposure_bands
),

facet_codes as (
    -- Every answer code that places a response in a facet, so that the answers are read once.
    select
        options.item_id,
        options.code,
        'group' as facet_kind,
        items.group_by as facet,
        options.label as facet_level
    from options
    inner join items on items.item_id = options.item_id
    where items.group_by is not null
    union all
    select
        exposure_bands.item_id,
        exposure_bands.code,
        'exposure' as facet_kind,
        exposure_bands.item_id as facet,
        exposure_bands.band_id as facet_level
    from exposure_bands
),

final as (
    select
        answers.response_row,
        responses.wave,
        responses.team_id,
        facet_codes.facet_kind,
        facet_codes.facet,
        facet_codes.facet_level
    from answers
    inner join facet_codes
        on facet_codes.item_id = answers.item_id
        and facet_codes.code = answers.answer_code
    inner join responses on responses.response_row = answers.response_row
)

select * from final
