-- Published. One row per indicator (key: indicator): what each indicator id in the indicator
-- tables means. kind is 'mean' (a scale score) or 'share' (the share of responses in band_id).
-- method is how the scale is scored ('sum' of the items, prorated as mean x item count; 'mean' of
-- the answered items; '0-100': the mean with every item rescaled to 0-100), from at least
-- min_answered of item_count items; score_min and score_max bound the score. compassion_fatigue
-- marks the indicators early warnings and exposure effects watch.
with scales as (
    select * from seed_scale_definitions
),

bands as (
    select * from seed_scale_bands
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
        scales.scale_name || ' (mean score)' as label
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
        scales.scale_name || ': share ' || bands.band_id as label
    from scales
    inner join bands on bands.indicator = scales.indicator
),

final as (
    select
        indicators.*,
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
)

select * from final
