-- One row per careless-responding flag raised in the warehouse (key: flag): how many responses
-- carry it, and how many of them it excludes (it is one of their exclusion reasons).
with flags as (
    select * from int_quality__response_flags
),

raised as (
    select
        unnest(flags.flags) as flag,
        flags.exclusion_reasons
    from flags
),

final as (
    select
        raised.flag,
        count(*) as responses,
        count(*) filter (where list_contains(raised.exclusion_reasons, raised.flag)) as excluded
    from raised
    group by raised.flag
)

select * from final
order by flag
