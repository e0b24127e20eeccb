-- Groups with more respondents than the roster says were invited (key: wave, group_type,
-- group_id): a headcount lowered, or a team's responses counted under another, after loading.
select
    groups.wave,
    groups.group_type,
    groups.group_id,
    groups.respondents,
    groups.invited
from int_groups as groups
where groups.invited > 0 and groups.respondents > groups.invited
order by groups.wave, groups.group_type, groups.group_id
