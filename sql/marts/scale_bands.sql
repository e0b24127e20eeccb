-- Published. One row per scale per band (key: indicator, band_id), ascending: a score is in the
-- highest band whose lower bound it reaches (inclusive when lower_inclusive, else strictly above).
with bands as (
    select * from seed_scale_bands
),

final as (
    select
        bands.indicator,
        bands.band_id,
        bands.band_order,
        bands.lower,
        bands.lower_inclusive
    from bands
)

select * from final
