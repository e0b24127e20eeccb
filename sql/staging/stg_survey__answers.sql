-- One row per response per answered item (key: response_row, item_id), with the answer's code and
-- its scoring value from the instrument definition. response_row is the response's rowid in
-- raw_responses, which the staging model of responses carries too (raw responses are only ever
-- appended, so a response keeps its rowid): tens of millions of answers each carrying the
-- 64-character response_key made every later model slow. Built incrementally: a build adds the
-- answers of the raw responses that are new since the last one.
-- materialized: incremental
with item_columns as (
    select
        rowid as response_row,
        * exclude (
            response_key,
            file_sha256,
            source_row,
            team,
            wave,
            recorded_date,
            progress,
            duration_seconds,
            finished,
            run_id
        )
    from raw_responses
    where rowid >= getvariable('first_new_response_row')
),

answers as (
    unpivot item_columns
    on columns(* exclude (response_row))
    into name item_id value answer_code
),

options as (
    select * from seed_answer_options
),

final as (
    select
        answers.response_row,
        answers.item_id,
        options.code as answer_code,
        options.value as answer_value
    from answers
    inner join options
        on options.item_id = answers.item_id
        and options.code = cast(answers.answer_code as integer)
)

select * from final
