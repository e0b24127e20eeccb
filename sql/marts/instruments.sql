-- Published. One row per instrument (key: instrument_id), with the credit and licence that every
-- dashboard showing it must carry.
with instruments as (
    select * from seed_instruments
),

final as (
    select
        instruments.instrument_id,
        instruments.name,
        instruments.title,
        instruments.credit,
        instruments.licence,
        instruments.url
    from instruments
)

select * from final
