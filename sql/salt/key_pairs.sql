-- One row per response key in one export read twice, with the old salt and with the new one
-- (key: old_key): the same row of the same file gives the old key and the new key.
with keyed_with_old as (
    select source_row, response_key from read_parquet(getvariable('old_archive'))
),

keyed_with_new as (
    select source_row, response_key from read_parquet(getvariable('new_archive'))
),

final as (
    select distinct
        keyed_with_old.response_key as old_key,
        keyed_with_new.response_key as new_key
    from keyed_with_old
    inner join keyed_with_new using (source_row)
    where keyed_with_old.response_key is not null
)

select * from final
