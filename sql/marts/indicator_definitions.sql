-- Published. One row per indicator (key: indicator): what each indicator id in the indicator
-- tables means. kind is 'mean' (a scale score) or 'share' (the share of responses in band_id).
-- label names the instrument, the scale and the kind (three scales are called burnout), and the
-- indicator tables print it beside the id as indicator_label; direction says whether a higher
-- value is better or worse ('neither' for the share of a middle band, which rises as scores move
-- into it from either side). method is how the scale is scored ('sum' of the items, prorated as
-- mean x item count; 'mean' of the answered items; '0-100': the mean with every item rescaled to
-- 0-100), from at least min_answered of item_count items; score_min and score_max bound the
-- score. compassion_fatigue marks the compassion-fatigue indicators, which exposure effects watch.
with scales as (
    select * from seed_scale_definitions
),

bands as (
    select * from seed_scale_bands
),

instruments as (
    select * from seed_instruments
),

watched as (
    select unnest(getvariable('compassion_fatigue_indicators')) as indicator
),

means as (
    select
        scales.indicator,
        scales.instrument_id,
        scales.scale_id,
        scales.scale_name,
        'mean' as kind,
        cast(null as varchar) as band_id,
        scales.risk_when,
        'mean score' as measure,
        if(scales.risk_when = 'high', 'higher is worse', 'higher is better') as direction
    from scales
),

shares as (
    select
        scales.indicator || '_share_' || bands.band_id as indicator,
        scales.instrument_id,
        scales.scale_id,
        scales.scale_name,
        'share' as kind,
        bands.band_id,
        scales.risk_when,
        'share in the ' || bands.band_id || ' band' as measure,
        case
            -- The band at the risky end of the scale, then the one at the other end.
            when bands.band_order = if(
                scales.risk_when = 'high',
                max(bands.band_order) over (partition by bands.indicator),
                1
            ) then 'higher is worse'
            when bands.band_order = if(
                scales.risk_when = 'high',
                1,
                max(bands.band_order) over (partition by bands.indicator)
            ) then 'higher is better'
            else 'neither'
        end as direction
    from scales
    inner join bands on bands.indicator = scales.indicator
),

final as (
    select
        indicators.indicator,
        indicators.instrument_id,
        indicators.scale_id,
        indicators.scale_name,
        indicators.kind,
        indicators.band_id,
        indicators.risk_when,
        instruments.name || ': ' || indicators.scale_name || ', ' || indicators.measure as label,
        indicators.direction,
        scales.method,
        scales.item_count,
        scales.min_answered,
        scales.score_min,
        scales.score_max,
        scales.indicator in (select watched.indicator from watched) as compassion_fatigue
    from (
        select * from means
        union all
        select * from shares
    ) as indicators
    inner join scales
        on scales.instrument_id = indicators.instrument_id
        and scales.scale_id = indicators.scale_id
    inner join instruments on instruments.instrument_id = indicators.instrument_id
)

select * from final
