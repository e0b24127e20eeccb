-- The aggregated indicators with the minimum-group-size rule applied (same grain and key as
-- int_indicators__aggregated). A cell is suppressed when its group had fewer respondents than the
-- minimum in that wave, or when fewer than the minimum answered enough items to be scored;
-- a suppressed cell keeps no value, interval or n. Every published indicator table reads from here.
with aggregated as (
    select * from int_indicators__aggregated
),

flagged as (
    select
        aggregated.*,
        aggregated.respondents < getvariable('min_group_size')
        or aggregated.n < getvariable('min_group_size') as suppressed
    from aggregated
),

final as (
    select
        wave,
        group_type,
        group_id,
        indicator,
        case when suppressed then null else n end as n,
        case when suppressed then null else value end as value,
        case when suppressed then null else ci_low end as ci_low,
        case when suppressed then null else ci_high end as ci_high,
        suppressed
    from flagged
)

select * from final
