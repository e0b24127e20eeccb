-- Published. One row per wave x group the roster covers (key: wave, group_type, group_id):
-- group_type 'team', 'parent_unit', 'service_line' or 'organization' (group_id 'all'); a team's
-- row carries its name, service line and parent unit on that wave's roster beside its id.
-- invited is the roster headcount; respondents the responses received and response_rate their
-- share of invited (response_rate_rounded: rounded for reading). Both are shown only where at
-- least the minimum group size were invited and responded (otherwise suppressed, with null
-- respondents and rate); low_response_rate flags a rate under the configured threshold (60% by
-- default), below which a group's results may not speak for it.
with rates as (
    select * from int_indicators__suppressed where kind = 'response_rate'
),

team_labels as (
    select * from int_team_labels
),

final as (
    select
        rates.wave,
        rates.group_type,
        rates.group_id,
        team_labels.team_name,
        team_labels.service_line,
        team_labels.parent_unit,
        rates.invited,
        rates.n as respondents,
        rates.value as response_rate,
        rounded_for_reading(rates.value, 'share') as response_rate_rounded,
        rates.value < getvariable('low_response_rate') as low_response_rate,
        rates.suppressed
    from rates
    left join team_labels
        on rates.group_type = 'team'
        and team_labels.wave = rates.wave
        and team_labels.team_id = rates.group_id
)

select * from final
