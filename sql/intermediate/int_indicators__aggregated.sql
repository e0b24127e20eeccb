-- One row per wave x group x indicator (key: wave, group_type, group_id, indicator), before
-- suppression. kind says what value holds:
-- * 'mean' (indicator <instrument>_<scale>): the mean score, with a 95% t interval;
-- * 'share' (<instrument>_<scale>_share_<band>): the share of scored responses in the band, with a
--   95% Wilson score interval;
-- * 'response_rate' (indicator response_rate): respondents over the roster headcount, for groups
--   the roster covers (no interval: everyone invited is counted);
-- * 'alpha' (<instrument>_<scale>_alpha): Cronbach's alpha, for the organization only.
-- respondents counts every response of the group in the wave; n the responses the value describes
-- (the scored ones, the complete cases for alpha); invited is the group's roster headcount. sd is
-- the sample standard deviation of what a mean or share averages (scores, or 0/1 band membership).
-- Breakdowns by exposure band cover the compassion-fatigue indicators only.
-- Built incrementally by wave: a build with new responses rebuilds only their waves' rows.
-- materialized: incremental by wave
with scores as (
    select * from int_scale_scores__banded
    where score is not null and in_rebuilt_waves(wave)
),

facets as (
    select * from int_responses__facets
    where in_rebuilt_waves(wave)
),

units as (
    select * from int_group_units
    where in_rebuilt_waves(wave)
),

groups as (
    select * from int_groups
    where in_rebuilt_waves(wave)
),

bands as (
    select * from seed_scale_bands
),

t_critical as (
    select * from seed_t_critical
),

reliability as (
    select * from int_scale_reliability
    where in_rebuilt_waves(wave)
),

exposure_indicators as (
    select unnest(getvariable('compassion_fatigue_indicators')) as indicator
),

whole_team_scores as (
    select
        scores.wave,
        scores.team_id,
        'all' as facet_kind,
        'all' as facet,
        'all' as facet_level,
        scores.indicator,
        scores.band_id,
        scores.score
    from scores
),

facet_scores as (
    select
        facets.wave,
        facets.team_id,
        facets.facet_kind,
        facets.facet,
        facets.facet_level,
        scores.indicator,
        scores.band_id,
        scores.score
    from facets
    inner join scores on scores.response_row = facets.response_row
    where
        facets.facet_kind = 'group'
        or scores.indicator in (select exposure_indicators.indicator from exposure_indicators)
),

unit_band_sums as (
    -- Exact decimal sums make every statistic independent of the order DuckDB's threads add up
    -- rows in, so a re-run publishes the very same numbers.
    select
        unit_scores.wave,
        unit_scores.team_id,
        unit_scores.facet_kind,
        unit_scores.facet,
        unit_scores.facet_level,
        unit_scores.indicator,
        unit_scores.band_id,
        count(*) as n,
        sum(cast(unit_scores.score as decimal(38, 6))) as score_sum,
        sum(
            cast(unit_scores.score as decimal(38, 6)) * cast(unit_scores.score as decimal(38, 6))
        ) as score_square_sum
    from (
        select * from whole_team_scores
        union all
        select * from facet_scores
    ) as unit_scores
    group by all
),

group_band_sums as (
    select
        units.wave,
        units.group_type,
        units.group_id,
        unit_band_sums.indicator,
        unit_band_sums.band_id,
        sum(unit_band_sums.n) as n,
        sum(unit_band_sums.score_sum) as score_sum,
        sum(unit_band_sums.score_square_sum) as score_square_sum
    from unit_band_sums
    inner join units
        on units.wave = unit_band_sums.wave
        and units.team_id = unit_band_sums.team_id
        and units.facet_kind = unit_band_sums.facet_kind
        and units.facet = unit_band_sums.facet
        and units.facet_level = unit_band_sums.facet_level
    group by all
),

group_sums as (
    select
        group_band_sums.wave,
        group_band_sums.group_type,
        group_band_sums.group_id,
        group_band_sums.indicator,
        cast(sum(group_band_sums.n) as bigint) as n,
        sum(group_band_sums.score_sum) as score_sum,
        sum(group_band_sums.score_square_sum) as score_square_sum
    from group_band_sums
    group by all
),

mean_cells as (
    select
        group_sums.wave,
        group_sums.group_type,
        group_sums.group_id,
        group_sums.indicator,
        'mean' as kind,
        group_sums.n,
        cast(group_sums.score_sum as double) / group_sums.n as value,
        case
            when group_sums.n > 1
                then sqrt(
                    greatest(
                        cast(
                            group_sums.n * group_sums.score_square_sum
                            - group_sums.score_sum * group_sums.score_sum
                            as double
                        ),
                        0
                    )
                    / (group_sums.n * (group_sums.n - 1))
                )
        end as sd
    from group_sums
),

share_cells as (
    select
        group_sums.wave,
        group_sums.group_type,
        group_sums.group_id,
        group_sums.indicator || '_share_' || bands.band_id as indicator,
        'share' as kind,
        group_sums.n,
        coalesce(group_band_sums.n, 0) / group_sums.n as value,
        case
            when group_sums.n > 1
                then sqrt(
                    coalesce(group_band_sums.n, 0) * (group_sums.n - coalesce(group_band_sums.n, 0))
                    / (group_sums.n * (group_sums.n - 1))
                )
        end as sd
    from group_sums
    inner join bands on bands.indicator = group_sums.indicator
    left join group_band_sums
        on group_band_sums.wave = group_sums.wave
        and group_band_sums.group_type = group_sums.group_type
        and group_band_sums.group_id = group_sums.group_id
        and group_band_sums.indicator = group_sums.indicator
        and group_band_sums.band_id = bands.band_id
),

response_rate_cells as (
    select
        groups.wave,
        groups.group_type,
        groups.group_id,
        'response_rate' as indicator,
        'response_rate' as kind,
        groups.respondents as n,
        groups.respondents / groups.invited as value,
        cast(null as double) as sd
    from groups
    where groups.invited > 0
),

alpha_cells as (
    select
        reliability.wave,
        'organization' as group_type,
        'all' as group_id,
        reliability.indicator || '_alpha' as indicator,
        'alpha' as kind,
        reliability.n,
        reliability.alpha as value,
        cast(null as double) as sd
    from reliability
),

cells as (
    select * from mean_cells
    union all
    select * from share_cells
    union all
    select * from response_rate_cells
    union all
    select * from alpha_cells
),

final as (
    select
        cells.wave,
        cells.group_type,
        cells.group_id,
        cells.indicator,
        cells.kind,
        groups.facet_kind,
        groups.respondents,
        groups.invited,
        cells.n,
        cells.value,
        cells.sd,
        case
            when cells.kind = 'mean'
                then cells.value
                - coalesce(t_critical.t975, 1.959964) * cells.sd / sqrt(cells.n)
            -- Rounding can leave a Wilson bound a hair outside 0..1 at a share of 0 or 1.
            when cells.kind = 'share'
                then greatest(
                    0,
                    (
                        cells.value + 1.959964 ^ 2 / (2 * cells.n)
                        - 1.959964
                        * sqrt(
                            cells.value * (1 - cells.value) / cells.n
                            + 1.959964 ^ 2 / (4 * cells.n * cells.n)
                        )
                    )
                    / (1 + 1.959964 ^ 2 / cells.n)
                )
        end as ci_low,
        case
            when cells.kind = 'mean'
                then cells.value
                + coalesce(t_critical.t975, 1.959964) * cells.sd / sqrt(cells.n)
            when cells.kind = 'share'
                then least(
                    1,
                    (
                        cells.value + 1.959964 ^ 2 / (2 * cells.n)
                        + 1.959964
                        * sqrt(
                            cells.value * (1 - cells.value) / cells.n
                            + 1.959964 ^ 2 / (4 * cells.n * cells.n)
                        )
                    )
                    / (1 + 1.959964 ^ 2 / cells.n)
                )
        end as ci_high
    from cells
    inner join groups
        on groups.wave = cells.wave
        and groups.group_type = cells.group_type
        and groups.group_id = cells.group_id
    left join t_critical on t_critical.df = cells.n - 1
)

select * from final
