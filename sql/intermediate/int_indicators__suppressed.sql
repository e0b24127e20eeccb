-- The compared indicators with the minimum-group-size rule applied (same grain and key as
-- int_indicators__aggregated). Every published number about respondents comes from here.
-- Suppression is decided per wave and per indicator (each indicator has its own n: the responses
-- scored on it; the response rate counts respondents), for means and response rates; a share
-- follows the mean of its scale (same n), and alpha, published for the organization only, follows
-- the primary rule alone. k below is getvariable('min_group_size').
-- 1. Primary: a cell is suppressed when its group had fewer than k respondents in the wave, or
--    fewer than k were scored on the indicator (for alpha, answered every item); a response rate
--    also when fewer than k were invited. Anything unknown counts as too small.
-- 2. Complementary, in up to eight passes, each on the previous pass's decisions: for every shown
--    container and every type of group inside it (int_suppression__containment: teams in a parent
--    unit, a service line or the organization, roles or exposure bands in the organization, a
--    team's exposure bands in the team and in the organization's band, parent units that lie in a
--    service line...), the hidden part, the container's n minus the n of the shown groups of that
--    type inside it, must be 0 or at least k: otherwise the container minus the shown groups
--    gives away fewer than k people's numbers (the hidden groups', or those in none of the groups,
--    such as respondents who left the role question blank). A violating set hides its smallest
--    shown group (ties by group id). A group inside a hidden group is hidden too, so that no shown
--    part of a hidden group narrows it down. This also covers overlapping cuts: a shown group
--    inside a shown container that differs from it by 1 to k - 1 people is hidden.
-- 3. Check: a set that still violates after the passes hides every group of it that is shown, and
--    everything inside them. Each newly hidden group was shown, so it had at least k respondents:
--    every other set's hidden part grows by at least k and stays valid, so nothing violates.
-- A suppressed cell keeps no respondents, n, value, interval, spread or shrunk value. The
-- comparison with the previous wave is kept only when both cells are shown: a change next to a
-- hidden previous value would give that value away.
with recursive compared as (
    select * from int_indicators__compared
),

containment as (
    select * from int_suppression__containment
),

share_bands as (
    select
        bands.indicator as scale_indicator,
        bands.indicator || '_share_' || bands.band_id as indicator
    from seed_scale_bands as bands
),

flagged as (
    select
        compared.*,
        coalesce(share_bands.scale_indicator, compared.indicator) as deciding_indicator,
        coalesce(
            compared.respondents < getvariable('min_group_size')
            or compared.n < getvariable('min_group_size')
            or (
                compared.kind = 'response_rate'
                and compared.invited < getvariable('min_group_size')
            ),
            true
        ) as primary_suppressed
    from compared
    left join share_bands on share_bands.indicator = compared.indicator
),

passes (pass, wave, indicator, group_type, group_id, n, hidden) as (
    select
        0,
        flagged.wave,
        flagged.indicator,
        flagged.group_type,
        flagged.group_id,
        coalesce(flagged.n, 0),
        flagged.primary_suppressed
    from flagged
    where flagged.kind in ('mean', 'response_rate')
    union all
    select
        passes.pass + 1,
        passes.wave,
        passes.indicator,
        passes.group_type,
        passes.group_id,
        passes.n,
        passes.hidden
        or coalesce(inside_hidden.hidden, false)
        or coalesce(complements.hidden, false)
    from passes
    left join (
        select
            containment.wave,
            container.indicator,
            containment.group_type,
            containment.group_id,
            bool_or(container.hidden) as hidden
        from containment
        inner join passes as container
            on container.wave = containment.wave
            and container.group_type = containment.container_group_type
            and container.group_id = containment.container_group_id
        group by all
    ) as inside_hidden
        on inside_hidden.wave = passes.wave
        and inside_hidden.indicator = passes.indicator
        and inside_hidden.group_type = passes.group_type
        and inside_hidden.group_id = passes.group_id
    left join (
        select distinct
            sibling_sets.wave,
            sibling_sets.indicator,
            sibling_sets.group_type,
            sibling_sets.smallest_shown_group_id as group_id,
            true as hidden
        from (
            select
                container.wave,
                container.indicator,
                containment.container_group_type,
                containment.container_group_id,
                containment.group_type,
                any_value(container.n)
                - coalesce(sum(inside.n) filter (where not inside.hidden), 0) as hidden_n,
                arg_min(inside.group_id, (inside.n, inside.group_id)) filter (
                    where not inside.hidden
                ) as smallest_shown_group_id
            from passes as container
            inner join containment
                on containment.wave = container.wave
                and containment.container_group_type = container.group_type
                and containment.container_group_id = container.group_id
            inner join passes as inside
                on inside.wave = container.wave
                and inside.indicator = container.indicator
                and inside.group_type = containment.group_type
                and inside.group_id = containment.group_id
            where not container.hidden
            group by all
        ) as sibling_sets
        where sibling_sets.hidden_n > 0 and sibling_sets.hidden_n < getvariable('min_group_size')
    ) as complements
        on complements.wave = passes.wave
        and complements.indicator = passes.indicator
        and complements.group_type = passes.group_type
        and complements.group_id = passes.group_id
    where passes.pass < 8
),

last_pass as (
    select * from passes where passes.pass = 8
),

-- Materialized so that each shown container meets only the groups inside it: left to the planner,
-- the two scans of last_pass were paired on wave and indicator first (150 million rows at 500
-- teams) before containment narrowed them.
shown_last_containers as materialized (
    select
        container.wave,
        container.indicator,
        container.n,
        containment.container_group_type,
        containment.container_group_id,
        containment.group_type,
        containment.group_id
    from last_pass as container
    inner join containment
        on containment.wave = container.wave
        and containment.container_group_type = container.group_type
        and containment.container_group_id = container.group_id
    where not container.hidden
),

violating_sets as (
    select
        container.wave,
        container.indicator,
        container.container_group_type,
        container.container_group_id,
        container.group_type
    from shown_last_containers as container
    inner join last_pass as inside
        on inside.wave = container.wave
        and inside.indicator = container.indicator
        and inside.group_type = container.group_type
        and inside.group_id = container.group_id
    group by all
    having
        any_value(container.n) - coalesce(sum(inside.n) filter (where not inside.hidden), 0)
        between 1 and getvariable('min_group_size') - 1
),

swept as (
    -- The hidden groups of the last pass, and the groups of every still-violating set.
    select
        last_pass.wave,
        last_pass.indicator,
        last_pass.group_type,
        last_pass.group_id
    from last_pass
    where last_pass.hidden
    union
    select
        violating_sets.wave,
        violating_sets.indicator,
        containment.group_type,
        containment.group_id
    from violating_sets
    inner join containment
        on containment.wave = violating_sets.wave
        and containment.container_group_type = violating_sets.container_group_type
        and containment.container_group_id = violating_sets.container_group_id
        and containment.group_type = violating_sets.group_type
),

decisions as (
    select
        last_pass.wave,
        last_pass.indicator,
        last_pass.group_type,
        last_pass.group_id,
        bool_or(swept.group_id is not null or inside_swept.group_id is not null) as suppressed
    from last_pass
    left join swept
        on swept.wave = last_pass.wave
        and swept.indicator = last_pass.indicator
        and swept.group_type = last_pass.group_type
        and swept.group_id = last_pass.group_id
    left join containment
        on containment.wave = last_pass.wave
        and containment.group_type = last_pass.group_type
        and containment.group_id = last_pass.group_id
    left join swept as inside_swept
        on inside_swept.wave = last_pass.wave
        and inside_swept.indicator = last_pass.indicator
        and inside_swept.group_type = containment.container_group_type
        and inside_swept.group_id = containment.container_group_id
    group by all
),

decided as (
    select
        flagged.*,
        coalesce(decisions.suppressed, flagged.primary_suppressed) as suppressed
    from flagged
    left join decisions
        on decisions.wave = flagged.wave
        and decisions.indicator = flagged.deciding_indicator
        and decisions.group_type = flagged.group_type
        and decisions.group_id = flagged.group_id
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
