-- Per wave, the staged responses in it (key: wave); responses in no fieldwork window are counted
-- by month of their recorded date, and those without a wave at all together.
with batch as (
    select * from ingest_batch
),

final as (
    select
        case
            when batch.wave is not null then batch.wave
            when batch.date_in_no_wave = 'no recorded date' then 'no wave: no recorded date'
            when batch.date_in_no_wave is not null
                then 'no wave: recorded ' || left(batch.date_in_no_wave, 7)
            else 'no wave'
        end as wave,
        count(*) as responses
    from batch
    group by all
)

select * from final
order by wave
