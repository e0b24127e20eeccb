-- One row per survey wave with responses (key: wave), in time order: its position, the wave before
-- it and the first day of its fieldwork. Wave ids sort in time order (2025-05, 2025-09, ...). When
-- the exports carry no recorded date, a wave id of the form YYYY-MM stands for the first of that
-- month.
with responses as (
    select * from stg_survey__responses
),

waves as (
    select
        responses.wave,
        min(responses.recorded_date) as first_recorded_date
    from responses
    group by responses.wave
),

final as (
    select
        waves.wave,
        row_number() over (order by waves.wave) as wave_order,
        lag(waves.wave) over (order by waves.wave) as previous_wave,
        coalesce(
            waves.first_recorded_date, cast(try_strptime(waves.wave, '%Y-%m') as date)
        ) as fieldwork_start
    from waves
)

select * from final
