-- Where the fixed-point suppression model starts: one row per wave x indicator x reporting group (key:
-- wave, indicator, group_type, group_id) for means and response rates, with the number the
-- complementary rule counts (n; 0 when unknown) and whether the primary rule hides the cell: the
-- group had fewer than k respondents in the wave, or fewer than k were scored on the indicator,
-- or (for a response rate) fewer than k were invited. Anything unknown counts as too small.
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
            compared.respondents < getvariable('min_group_size')
            or compared.n < getvariable('min_group_size')
            or (
                compared.kind = 'response_rate'
                and compared.invited < getvariable('min_group_size')
            ),
            true
        ) as hidden
    from compared
    where compared.kind in ('mean', 'response_rate')
)

select * from final
