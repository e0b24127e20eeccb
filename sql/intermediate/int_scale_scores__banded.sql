-- The scale scores with their band (same grain and key as int_scale_scores__scored). A score is in
-- the highest band whose lower bound it reaches: inclusive bounds take the edge itself (ProQOL 42
-- is high, CBI 50 is high, BRS 3.00 is normal), exclusive ones only what lies above (ProQOL 22 is
-- low, BRS 4.30 is normal). A missing score has no band. A view: finding the band where it is read
-- takes a fraction of a second, where storing a copy of every score took seconds at a million
-- responses.
-- materialized: view
with scored as (
    select * from int_scale_scores__scored
),

bands as (
    select * from seed_scale_bands
),

band_ranges as (
    -- Each band up to the next one's lower bound, so that a score finds its band by one join.
    select
        bands.indicator,
        bands.band_id,
        bands.lower,
        bands.lower_inclusive,
        lead(bands.lower) over (partition by bands.indicator order by bands.band_order) as upper,
        lead(bands.lower_inclusive) over (
            partition by bands.indicator order by bands.band_order
        ) as upper_belongs_above
    from bands
),

final as (
    select
        scored.*,
        band_ranges.band_id
    from scored
    left join band_ranges
        on band_ranges.indicator = scored.indicator
        and (
            scored.score > band_ranges.lower
            or (band_ranges.lower_inclusive and scored.score = band_ranges.lower)
        )
        and (
            band_ranges.upper is null
            or scored.score < band_ranges.upper
            or (not band_ranges.upper_belongs_above and scored.score = band_ranges.upper)
        )
)

select * from final
