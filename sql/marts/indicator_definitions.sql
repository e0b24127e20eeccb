-- Published. One row per indicator (key: indicator): what each indicator id in the indicator
-- tables means. kind is 'mean' (a scale score) or 'share' (the share of responses in band_id).
with scales as (
    select * from seed_scale_definitions
),

bands as (
    select * from seed_scale_bands
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
    select * from means
    union all
    select * from shares
)

select * from final
