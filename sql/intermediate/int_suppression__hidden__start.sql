-- Where the fixed-point suppression model starts: one row per wave x indicator x reporting group (key:
-- wave, indicator, group_type, group_id) for means and response rates, with the number the
-- complementary rule counts (n; 0 when unknown) and whether the primary rule hides the cell: the
-- group had fewer than k respondents in the wave, or fewer than k were scored on the indicator;
-- a response rate, when fewer than k were invited or between 1 and k - 1 responded (none at all
-- shows as 0%). Anything unknown counts as too small.
-- k is getvariable('min_group_size').
with compared as (
    select * from int_indicators__compared
),

final as (
    select
        compared.wave,
        compared.indicator,
        compared.group_type,
        compared.group_id,
        coalesce(compared.n, 0) as n,
        coalesce(
            case
                -- No response describes no one: a rate of 0 is shown wherever enough were invited.
                when compared.kind = 'response_rate'
                    then compared.invited < getvariable('min_group_size')
                    or compared.respondents between 1 and getvariable('min_group_size') - 1
                else compared.respondents < getvariable('min_group_size')
                    or compared.n < getvariable('min_group_size')
            end,
            true
        ) as hidden
    from compared
    where compared.kind in ('mean', 'response_rate')
)

select * from final
