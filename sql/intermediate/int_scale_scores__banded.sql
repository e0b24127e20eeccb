-- The scale scores with their band (same grain and key as int_scale_scores__scored). A score is in
-- the highest band whose lower bound it reaches: inclusive bounds take the edge itself (ProQOL 42 is
-- high, CBI 50 is high, BRS 3.00 is normal), exclusive ones only what lies above (ProQOL 22 is low,
-- BRS 4.30 is normal). A missing score has no band.
with scored as (
    select * from int_scale_scores__scored
),

bands as (
    select * from seed_scale_bands
),

reached_bands as (
    select
        scored.response_key,
        scored.indicator,
        arg_max(bands.band_id, bands.band_order) as band_id
    from scored
    inner join bands
        on bands.indicator = scored.indicator
        and (scored.score > bands.lower or (bands.lower_inclusive and scored.score = bands.lower))
    group by scored.response_key, scored.indicator
),

final as (
    select
        scored.*,
        reached_bands.band_id
    from scored
    left join reached_bands using (response_key, indicator)
)

select * from final
