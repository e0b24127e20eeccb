-- Per file of the current batch: rows loaded (corrected ones included), quarantined, repeated and
-- already in the warehouse; of the loaded, those that replace an earlier version; and the
-- responses the file removes (this newer export of their survey no longer holds them).
create or replace temp table batch_file_counts as
with outcomes as (
    select
        file_sha256,
        count(*) filter (where outcome in ('loaded', 'corrected')) as rows_loaded,
        count(*) filter (where outcome = 'corrected') as rows_corrected,
        count(*) filter (where outcome = 'quarantined') as rows_quarantined,
        count(*) filter (where outcome = 'repeated') as rows_repeated,
        count(*) filter (where outcome = 'already_loaded') as rows_already_loaded
    from batch_outcomes
    group by file_sha256
),

removals as (
    select
        file_sha256,
        count(*) as rows_deleted
    from batch_removals
    group by file_sha256
),

final as (
    select
        coalesce(outcomes.file_sha256, removals.file_sha256) as file_sha256,
        coalesce(outcomes.rows_loaded, 0) as rows_loaded,
        coalesce(outcomes.rows_corrected, 0) as rows_corrected,
        coalesce(outcomes.rows_quarantined, 0) as rows_quarantined,
        coalesce(outcomes.rows_repeated, 0) as rows_repeated,
        coalesce(outcomes.rows_already_loaded, 0) as rows_already_loaded,
        coalesce(removals.rows_deleted, 0) as rows_deleted
    from outcomes
    full outer join removals using (file_sha256)
)

select * from final
