-- Published. One row per wave x scale of two or more items (key: wave, indicator): the internal
-- consistency of the scale in the whole organization, as Cronbach's alpha over the responses that
-- answered every item (n). below_threshold flags alpha under the configured warning level (0.6 by
-- default): the scale's items did not hang together in this wave, so its scores deserve caution.
-- Suppressed when fewer than the minimum group size answered every item.
with reliability as (
    select * from int_indicators__suppressed where kind = 'alpha'
),

scales as (
    select * from seed_scale_definitions
),

final as (
    select
        reliability.wave,
        scales.indicator,
        scales.instrument_id,
        scales.scale_id,
        scales.scale_name,
        scales.item_count,
        reliability.n,
        reliability.value as alpha,
        reliability.value < getvariable('reliability_warning_below') as below_threshold,
        reliability.suppressed
    from reliability
    inner join scales on scales.indicator || '_alpha' = reliability.indicator
)

select * from final
