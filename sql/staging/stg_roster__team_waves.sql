-- One row per team per wave (key: team_id, wave): who was invited, and where the team sits in the
-- organization, as the roster lists it after the moves table's splits. A team split in a wave after
-- its responses were loaded keeps them (who went where is not known, and no respondent is made
-- up): for that wave it stands as it was on the roster for its latest earlier wave, with the
-- people each new team took from it (the split's share of the new team's headcount, rounded) as
-- its headcount; each new team keeps the rest of its headcount, and one left with nobody is not
-- on the roster for that wave. No one is invited twice, and no one is added.
with listed as (
    select * from stg_roster__listed_team_waves
),

splits as (
    select * from seed_team_moves
    where share is not null
),

taken as (
    select
        splits.wave,
        splits.from_team,
        splits.to_team,
        cast(round(splits.share * listed.headcount) as integer) as headcount
    from splits
    inner join listed
        on listed.wave = splits.wave
        and listed.team_id = splits.to_team
),

split_teams as (
    select
        taken.wave,
        taken.from_team,
        sum(taken.headcount) as headcount
    from taken
    group by taken.wave, taken.from_team
),

earlier_entries as (
    select
        listed.team_id,
        listed.team_name,
        listed.service_line,
        listed.parent_unit,
        split_teams.wave,
        split_teams.headcount
    from split_teams
    inner join listed
        on listed.team_id = split_teams.from_team
        and listed.wave < split_teams.wave
    qualify row_number() over (
        partition by split_teams.wave, split_teams.from_team order by listed.wave desc
    ) = 1
),

remaining as (
    select
        listed.team_id,
        listed.team_name,
        listed.service_line,
        listed.parent_unit,
        listed.wave,
        listed.headcount - coalesce(taken_from.headcount, 0) as headcount
    from listed
    left join (
        select taken.wave, taken.to_team, sum(taken.headcount) as headcount
        from taken
        group by taken.wave, taken.to_team
    ) as taken_from
        on taken_from.wave = listed.wave
        and taken_from.to_team = listed.team_id
),

final as (
    select * from remaining
    where remaining.headcount > 0 or remaining.headcount is null
    union all
    select * from earlier_entries
)

select * from final
