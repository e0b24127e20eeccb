-- One row per response per scale (key: response_row, indicator; stg_survey__responses has each
-- response's response_key, which storing on every score cost a second at a million responses):
-- items answered and the score, for every response that is scored.
-- Each answer counts as score_offset + score_weight x its value (seed_scale_items): reversed items
-- are mirrored within the item's value range (6 - x on a 1-5 scale, 100 - x on 0-100), and on a
-- 0-100 scale every item is rescaled so that its lowest value counts 0 and its highest 100. A scale
-- is scored when at least min_answered items are answered; a sum scale is prorated as the mean of
-- the answered items x the item count, a mean or 0-100 scale is the mean of the answered items.
-- Otherwise its score is null.
-- Built incrementally by wave: a build with new responses rebuilds only their waves' rows.
-- materialized: incremental by wave
with responses as (
    select * from stg_survey__responses
    where in_rebuilt_waves(wave)
),

answered as (
    select * from int_scale_scores__answered
),

scales as (
    select * from seed_scale_definitions
),

final as (
    select
        responses.response_row,
        responses.team_id,
        responses.wave,
        scales.instrument_id,
        scales.indicator,
        coalesce(answered.items_answered, 0) as items_answered,
        case
            when answered.items_answered >= scales.min_answered
                then round(
                    answered.mean_value
                    * (case when scales.method = 'sum' then scales.item_count else 1 end),
                    6
                )
        end as score
    from responses
    cross join scales
    left join answered
        on answered.response_row = responses.response_row
        and answered.indicator = scales.indicator
)

select * from final
