-- Published. One row per wave x group the roster covers (key: wave, group_type, group_id):
-- group_type 'team', 'parent_unit', 'service_line' or 'organization' (group_id 'all').
-- invited is the roster headcount; respondents the responses received and response_rate their
-- share of invited. Both are shown only where at least the minimum group size were invited and
-- responded (otherwise suppressed, with null respondents and rate); low_response_rate flags a rate
-- under the configured threshold (60% by default), below which a group's results may not speak
-- for it.
with rates as (
    select * from int_indicators__suppressed where kind = 'response_rate'
),

final as (
    select
        rates.wave,
        rates.group_type,
        rates.group_id,
        rates.invited,
        rates.n as respondents,
        rates.value as response_rate,
        rates.value < getvariable('low_response_rate') as low_response_rate,
        rates.suppressed
    from rates
)

select * from final
