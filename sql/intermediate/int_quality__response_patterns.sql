-- One row per response with answers (key: response_row, the response's rowid in raw_responses):
-- what its own answers show about careless responding, before it is compared with other
-- responses. items_answered; answer_set_hash, a hash of its (item, answer) pairs in any order;
-- longest_identical_run, the most identical answers in a row within an instrument whose items
-- share one answer scale, in item order (an unanswered item ends a run);
-- straight_lined_instruments, those of at least straight_line_min_items such items with one answer
-- to every item;
-- inconsistent_scales, the scales with reversed items whose answered items, reversed and plain,
-- all have the same extreme answer. Built incrementally: a build adds the responses that are new
-- since the last one.
-- materialized: incremental
with answers as not materialized (
    -- Read three times: a materialized copy of every answer cost gigabytes at a million responses.
    select * from stg_survey__answers
    where response_row >= getvariable('first_new_response_row')
),

items as (
    select * from seed_item_definitions
),

options as (
    select * from seed_answer_options
),

scale_items as (
    select * from seed_scale_items
),

item_answer_scales as (
    select
        options.item_id,
        string_agg(options.code || '=' || options.value, ',' order by options.code) as answer_scale
    from options
    group by options.item_id
),

matrix_instruments as (
    select
        items.instrument_id,
        count(*) as item_count
    from items
    inner join item_answer_scales on item_answer_scales.item_id = items.item_id
    group by items.instrument_id
    having count(*) >= 2 and count(distinct item_answer_scales.answer_scale) = 1
),

matrix_item_orders as (
    -- Items are numbered <instrument>_<n>: their number is the order they are asked in.
    select
        items.item_id,
        items.instrument_id,
        matrix_instruments.item_count,
        row_number() over (
            order by
                items.instrument_id,
                coalesce(try_cast(regexp_extract(items.item_id, '_(\d+)$', 1) as integer), 0),
                items.item_id
        ) as item_order
    from items
    inner join matrix_instruments on matrix_instruments.instrument_id = items.instrument_id
),

matrix_items as (
    -- Numbered one after another within an instrument, with a gap of one between instruments,
    -- so that an answer continues a run only from the item just before it in its instrument.
    select
        matrix_item_orders.*,
        matrix_item_orders.item_order
        + dense_rank() over (order by matrix_item_orders.instrument_id) as sequence
    from matrix_item_orders
),

answer_codes as (
    -- What each possible answer adds to a response's measures, worked out once per answer code
    -- rather than once per answer: its hash as an (item, answer) pair, and for a matrix item one
    -- number holding the item's sequence and the code, sequence x 2^32 + the code shifted to be
    -- non-negative.
    select
        options.item_id,
        options.code,
        hash(options.item_id || '=' || options.code) as answer_hash,
        matrix_items.sequence * 4294967296 + (cast(options.code as bigint) + 2147483648)
            as matrix_answer
    from options
    left join matrix_items on matrix_items.item_id = options.item_id
),

response_answers as (
    -- One pass over the long answers for what is measured per response. The matrix answers are
    -- collected as one number each and sorted after collecting: a list of structs, or an ordered
    -- list aggregate, cost twice the time and far more memory. The answer pattern is compared as
    -- a hash of its (item, answer) pairs, which needs no ordering; only responses whose hash is
    -- shared are compared in full (see the duplicate check).
    select
        answers.response_row,
        count(*) as items_answered,
        bit_xor(answer_codes.answer_hash) as answer_set_hash,
        list_sort(
            list(answer_codes.matrix_answer) filter (where answer_codes.matrix_answer is not null)
        ) as matrix_answers
    from answers
    inner join answer_codes
        on answer_codes.item_id = answers.item_id
        and answer_codes.code = answers.answer_code
    group by answers.response_row
),

continuations as (
    -- An answer continues a run of identical answers when it is the next item of the same
    -- instrument with the same code: exactly when its number is the one before plus 2^32. Marked
    -- 'x' (continues) or ' ' (starts a new run), from the second matrix answer on.
    select
        response_answers.*,
        array_to_string(
            list_transform(
                range(2, len(response_answers.matrix_answers) + 1),
                lambda answer_index: if(
                    response_answers.matrix_answers[answer_index]
                    - response_answers.matrix_answers[answer_index - 1] = 4294967296,
                    'x',
                    ' '
                )
            ),
            ''
        ) as continuation_marks
    from response_answers
),

longest_runs as (
    -- The longest stretch of continuations, plus the answer that starts it. Strings of 'x' sort
    -- by length, so the greatest stretch is the longest.
    select
        continuations.response_row,
        continuations.items_answered,
        continuations.answer_set_hash,
        if(
            len(continuations.matrix_answers) = 0,
            null,
            length(list_max(string_split(continuations.continuation_marks, ' '))) + 1
        ) as longest_identical_run
    from continuations
),

straight_lined_instruments as (
    -- One answer to every item of the instrument.
    select
        answers.response_row,
        matrix_items.instrument_id
    from answers
    inner join matrix_items on matrix_items.item_id = answers.item_id
    where matrix_items.item_count >= getvariable('straight_line_min_items')
    group by answers.response_row, matrix_items.instrument_id, matrix_items.item_count
    having
        count(*) = matrix_items.item_count
        and min(answers.answer_code) = max(answers.answer_code)
),

straight_lined as (
    select
        straight_lined_instruments.response_row,
        list_sort(list(straight_lined_instruments.instrument_id)) as straight_lined_instruments
    from straight_lined_instruments
    group by straight_lined_instruments.response_row
),

reversed_scales as (
    select scale_items.indicator
    from scale_items
    group by scale_items.indicator
    having bool_or(scale_items.is_reversed) and bool_or(not scale_items.is_reversed)
),

reversed_scale_answers as (
    select
        answers.response_row,
        scale_items.indicator,
        scale_items.is_reversed,
        answers.answer_value,
        items.value_min,
        items.value_max
    from answers
    inner join scale_items on scale_items.item_id = answers.item_id
    inner join reversed_scales on reversed_scales.indicator = scale_items.indicator
    inner join items on items.item_id = answers.item_id
),

inconsistent_scales as (
    select
        reversed_scale_answers.response_row,
        reversed_scale_answers.indicator
    from reversed_scale_answers
    group by reversed_scale_answers.response_row, reversed_scale_answers.indicator
    having
        min(reversed_scale_answers.answer_value) = max(reversed_scale_answers.answer_value)
        and (
            min(reversed_scale_answers.answer_value) = min(reversed_scale_answers.value_min)
            or min(reversed_scale_answers.answer_value) = max(reversed_scale_answers.value_max)
        )
        and bool_or(reversed_scale_answers.is_reversed)
        and bool_or(not reversed_scale_answers.is_reversed)
),

inconsistent as (
    select
        inconsistent_scales.response_row,
        list_sort(list(inconsistent_scales.indicator)) as inconsistent_scales
    from inconsistent_scales
    group by inconsistent_scales.response_row
),

final as (
    select
        longest_runs.response_row,
        longest_runs.items_answered,
        longest_runs.answer_set_hash,
        longest_runs.longest_identical_run,
        coalesce(straight_lined.straight_lined_instruments, []) as straight_lined_instruments,
        coalesce(inconsistent.inconsistent_scales, []) as inconsistent_scales
    from longest_runs
    left join straight_lined on straight_lined.response_row = longest_runs.response_row
    left join inconsistent on inconsistent.response_row = longest_runs.response_row
)

select * from final
