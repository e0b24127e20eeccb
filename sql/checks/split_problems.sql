-- Splits in the roster's moves table that the roster cannot carry (key: wave, from_team, with the
-- first problem in words): the old team is still on the roster for that wave (then nothing was
-- split), it is on the roster for no earlier wave (then nothing says where it sat), or a new team
-- is not on the roster for that wave (then no headcount can come from it).
with moves as (
    select * from seed_team_moves
),

listed as (
    select * from stg_roster__listed_team_waves
),

splits as (
    select * from moves
    where moves.share is not null
),

problems as (
    select
        splits.wave,
        splits.from_team,
        1 as problem_order,
        splits.from_team || ' is still on the roster for that wave' as problem
    from splits
    semi join listed
        on listed.wave = splits.wave
        and listed.team_id = splits.from_team
    union all
    select
        splits.wave,
        splits.from_team,
        2 as problem_order,
        splits.from_team || ' is on the roster for no earlier wave' as problem
    from splits
    anti join listed
        on listed.team_id = splits.from_team
        and listed.wave < splits.wave
    union all
    select
        splits.wave,
        splits.from_team,
        3 as problem_order,
        splits.to_team || ' is not on the roster for that wave' as problem
    from splits
    anti join listed
        on listed.wave = splits.wave
        and listed.team_id = splits.to_team
),

final as (
    select distinct on (problems.wave, problems.from_team)
        problems.wave,
        problems.from_team,
        problems.problem
    from problems
    order by problems.wave, problems.from_team, problems.problem_order
)

select * from final
