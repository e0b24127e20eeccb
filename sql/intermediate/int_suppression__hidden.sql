-- Which cells the minimum-group-size rule hides (same grain and key as
-- int_suppression__hidden__start). Built to a fixed point: starting from the primary rule, this
-- select runs on its own previous result until nothing more is hidden. Each pass, on the previous
-- pass's decisions:
-- * a group inside a hidden group is hidden, so that no shown part of a hidden group narrows it
--   down;
-- * for every shown container and every type of group inside it (int_suppression__containment:
--   teams in a parent unit, a service line or the organization, roles or exposure bands in the
--   organization, a team's exposure bands in the team and in the organization's band, parent
--   units that lie in a service line...), the hidden part, the container's n minus the n of the
--   shown groups of that type inside it, must be 0 or at least k: otherwise the container minus
--   the shown groups gives away fewer than k people's numbers (the hidden groups', or those in
--   none of the groups, such as respondents who left the role question blank). This also covers
--   overlapping cuts: a shown group inside a shown container that differs from it by 1 to k - 1
--   people is hidden. In the first 8 passes a violating set hides its smallest shown group (ties
--   by group id), which hides as few people as it can; in any later pass it hides every group of
--   the set, which ends the search quickly: each newly hidden group was shown, so it had at least
--   k respondents, and every other set's hidden part grows by at least k and stays valid.
-- A violating set always has a shown group to hide (a shown container has at least k people), so
-- at the fixed point no set violates. k is getvariable('min_group_size'); the runner sets
-- getvariable('fixed_point_pass') to the pass being built, from 1.
with state as (
    select * from int_suppression__hidden
),

containment as (
    select * from int_suppression__containment
),

inside_hidden as (
    select
        containment.wave,
        container.indicator,
        containment.group_type,
        containment.group_id
    from containment
    inner join state as container
        on container.wave = containment.wave
        and container.group_type = containment.container_group_type
        and container.group_id = containment.container_group_id
    where container.hidden
),

-- Materialized so that each shown container meets only the groups inside it: left to the
-- planner, the two scans of the state were paired on wave and indicator first (over a billion
-- rows at 500 teams) before containment narrowed them.
shown_containers as materialized (
    select
        container.wave,
        container.indicator,
        container.n as container_n,
        containment.container_group_type,
        containment.container_group_id,
        containment.group_type,
        containment.group_id
    from state as container
    inner join containment
        on containment.wave = container.wave
        and containment.container_group_type = container.group_type
        and containment.container_group_id = container.group_id
    where not container.hidden
),

violating_sets as (
    select
        shown_containers.wave,
        shown_containers.indicator,
        shown_containers.container_group_type,
        shown_containers.container_group_id,
        shown_containers.group_type,
        arg_min(inside.group_id, (inside.n, inside.group_id)) filter (
            where not inside.hidden
        ) as smallest_shown_group_id
    from shown_containers
    inner join state as inside
        on inside.wave = shown_containers.wave
        and inside.indicator = shown_containers.indicator
        and inside.group_type = shown_containers.group_type
        and inside.group_id = shown_containers.group_id
    group by all
    having
        any_value(shown_containers.container_n)
        - coalesce(sum(inside.n) filter (where not inside.hidden), 0)
        between 1 and getvariable('min_group_size') - 1
),

newly_hidden as (
    select
        violating_sets.wave,
        violating_sets.indicator,
        violating_sets.group_type,
        violating_sets.smallest_shown_group_id as group_id
    from violating_sets
    where getvariable('fixed_point_pass') <= 8
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
    where getvariable('fixed_point_pass') > 8
    union
    select * from inside_hidden
),

final as (
    select
        state.wave,
        state.indicator,
        state.group_type,
        state.group_id,
        state.n,
        state.hidden or newly_hidden.group_id is not null as hidden
    from state
    left join newly_hidden
        on newly_hidden.wave = state.wave
        and newly_hidden.indicator = state.indicator
        and newly_hidden.group_type = state.group_type
        and newly_hidden.group_id = state.group_id
)

select * from final
