-- The compared indicators with the minimum-group-size rule applied (same grain and key as
-- int_indicators__aggregated). Every published number about respondents comes from here.
-- Suppression is decided per wave and per indicator (each indicator has its own n: the responses
-- scored on it; the response rate counts respondents). For means and response rates,
-- int_suppression__hidden decides, with the primary and the complementary rule; a share follows
-- the mean of its scale (same n); alpha, published for the organization only, follows the primary
-- rule alone (fewer than k respondents, or fewer than k who answered every item, where k is
-- getvariable('min_group_size')).
-- A suppressed cell keeps no respondents, n, value, interval, spread or shrunk value. The
-- comparison with the previous wave is kept only when both cells are shown: a change next to a
-- hidden previous value would give that value away.
with compared as (
    select * from int_indicators__compared
),

hidden as (
    select * from int_suppression__hidden
),

share_bands as (
    select
        bands.indicator as scale_indicator,
        bands.indicator || '_share_' || bands.band_id as indicator
    from seed_scale_bands as bands
),

decided as (
    select
        compared.*,
        coalesce(
            hidden.hidden,
            compared.respondents < getvariable('min_group_size')
            or compared.n < getvariable('min_group_size'),
            true
        ) as suppressed
    from compared
    left join share_bands on share_bands.indicator = compared.indicator
    left join hidden
        on hidden.wave = compared.wave
        and hidden.indicator = coalesce(share_bands.scale_indicator, compared.indicator)
        and hidden.group_type = compared.group_type
        and hidden.group_id = compared.group_id
),

with_previous as (
    select
        decided.*,
        coalesce(previous.suppressed, true) as previous_suppressed
    from decided
    left join decided as previous
        on previous.wave = decided.previous_wave
        and previous.group_type = decided.group_type
        and previous.group_id = decided.group_id
        and previous.indicator = decided.indicator
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
