-- The compared indicators with the minimum-group-size rule applied (same grain and key as
-- int_indicators__aggregated). Every published number about respondents comes from here.
-- A cell is suppressed when its group had fewer respondents than the minimum in that wave, or when
-- fewer than the minimum answered enough items to be scored (or, for alpha, answered every item);
-- a response rate also when fewer than the minimum were invited. A suppressed cell keeps no
-- respondents, n, value, interval, spread or shrunk value. The comparison with the previous wave
-- is kept only when both cells are shown: a change next to a hidden previous value would give
-- that value away.
with compared as (
    select * from int_indicators__compared
),

flagged as (
    select
        compared.*,
        -- Anything unknown counts as too small: when in doubt, show nothing.
        coalesce(
            compared.respondents < getvariable('min_group_size')
            or compared.n < getvariable('min_group_size')
            or (
                compared.kind = 'response_rate'
                and compared.invited < getvariable('min_group_size')
            ),
            true
        ) as suppressed
    from compared
),

with_previous as (
    select
        flagged.*,
        coalesce(previous.suppressed, true) as previous_suppressed
    from flagged
    left join flagged as previous
        on previous.wave = flagged.previous_wave
        and previous.group_type = flagged.group_type
        and previous.group_id = flagged.group_id
        and previous.indicator = flagged.indicator
),

final as (
    select
        wave,
        group_type,
        group_id,
        indicator,
        kind,
        facet_kind,
        invited,
        case when suppressed then null else respondents end as respondents,
        case when suppressed then null else n end as n,
        case when suppressed then null else value end as value,
        case when suppressed then null else sd end as sd,
        case when suppressed then null else ci_low end as ci_low,
        case when suppressed then null else ci_high end as ci_high,
        case when suppressed then null else shrunk_value end as shrunk_value,
        previous_wave,
        case
            when suppressed or previous_suppressed then null else previous_value
        end as previous_value,
        case when suppressed or previous_suppressed then null else change end as change,
        case
            when suppressed or previous_suppressed then null else change_p_value
        end as change_p_value,
        case
            when suppressed or previous_suppressed then null else change_significant
        end as change_significant,
        suppressed
    from with_previous
)

select * from final
