-- One row per response in the warehouse (key: response_key): its careless-responding flags, and
-- whether they exclude it from scoring. Flags (the names the `exclude` setting lists):
-- * too_fast: fewer than min_seconds_per_item seconds per answered item (duration / answers);
-- * straight_lined: one answer to every item of an instrument of at least straight_line_min_items
--   items that share one answer scale (ProQOL, CBI; the six BRS items are too few: a neutral
--   answer to all six is a plausible honest answer);
-- * long_identical_run: at least long_run_items identical answers in a row, within an instrument
--   whose items share one answer scale, in item order; an unanswered item ends a run;
-- * inconsistent_reversed: the same extreme answer (lowest or highest) to every answered item of a
--   scale with reversed items, reversed and plain items both answered;
-- * duplicate_answers: exactly the same answers as another response of the same team in the same
--   wave, both with at least duplicate_min_answers answers.
-- exclusion_reasons lists the flags that the `careless_exclusions` variable names; a response with
-- any is excluded. Excluded responses stay in raw_responses. Team, wave and duration are read from
-- raw_responses rather than from the staging model of responses, so that that model can leave the
-- excluded responses out by reading this one (the model runner orders models by the names they
-- mention: this file must not name it).
with responses as (
    select * from raw_responses
),

answers as (
    select * from stg_survey__answers
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

matrix_items as (
    -- Items are numbered <instrument>_<n>: their number is the order they are asked in.
    select
        items.item_id,
        items.instrument_id,
        matrix_instruments.item_count,
        row_number() over (
            partition by items.instrument_id
            order by
                coalesce(try_cast(regexp_extract(items.item_id, '_(\d+)$', 1) as integer), 0),
                items.item_id
        ) as position
    from items
    inner join matrix_instruments on matrix_instruments.instrument_id = items.instrument_id
),

matrix_answers as (
    select
        answers.response_key,
        matrix_items.instrument_id,
        matrix_items.item_count,
        matrix_items.position,
        answers.answer_code
    from answers
    inner join matrix_items on matrix_items.item_id = answers.item_id
),

runs as (
    -- Along a run of one answer at consecutive positions, position minus the answer's rank within
    -- the response's instrument stays the same; a change of answer or a skipped item changes it.
    select
        matrix_answers.response_key,
        matrix_answers.instrument_id,
        matrix_answers.item_count,
        matrix_answers.answer_code,
        matrix_answers.position - row_number() over (
            partition by
                matrix_answers.response_key,
                matrix_answers.instrument_id,
                matrix_answers.answer_code
            order by matrix_answers.position
        ) as run_start
    from matrix_answers
),

run_lengths as (
    select
        runs.response_key,
        runs.instrument_id,
        runs.item_count,
        count(*) as run_length
    from runs
    group by runs.response_key, runs.instrument_id, runs.item_count, runs.answer_code, runs.run_start
),

straight_runs as (
    select
        run_lengths.response_key,
        max(run_lengths.run_length) as longest_identical_run,
        list_sort(
            list(distinct run_lengths.instrument_id) filter (
                where
                    run_lengths.run_length = run_lengths.item_count
                    and run_lengths.item_count >= getvariable('straight_line_min_items')
            )
        ) as straight_lined_instruments
    from run_lengths
    group by run_lengths.response_key
),

reversed_scales as (
    select scale_items.indicator
    from scale_items
    group by scale_items.indicator
    having bool_or(scale_items.is_reversed) and bool_or(not scale_items.is_reversed)
),

reversed_scale_answers as (
    select
        answers.response_key,
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
        reversed_scale_answers.response_key,
        reversed_scale_answers.indicator
    from reversed_scale_answers
    group by reversed_scale_answers.response_key, reversed_scale_answers.indicator
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
        inconsistent_scales.response_key,
        list_sort(list(inconsistent_scales.indicator)) as inconsistent_scales
    from inconsistent_scales
    group by inconsistent_scales.response_key
),

answer_patterns as (
    select
        answers.response_key,
        count(*) as items_answered,
        string_agg(answers.item_id || '=' || answers.answer_code, ',' order by answers.item_id)
            as answer_pattern
    from answers
    group by answers.response_key
),

paced as (
    select
        responses.response_key,
        responses.team as team_id,
        responses.wave,
        coalesce(answer_patterns.items_answered, 0) as items_answered,
        answer_patterns.answer_pattern,
        responses.duration_seconds / nullif(answer_patterns.items_answered, 0)
            as seconds_per_item
    from responses
    left join answer_patterns on answer_patterns.response_key = responses.response_key
),

duplicates as (
    select
        paced.response_key,
        count(*) over (
            partition by paced.team_id, paced.wave, paced.answer_pattern
        ) - 1 as same_answers_in_team_wave
    from paced
    where paced.items_answered >= getvariable('duplicate_min_answers')
),

measured as (
    select
        paced.response_key,
        paced.team_id,
        paced.wave,
        paced.items_answered,
        paced.seconds_per_item,
        coalesce(straight_runs.longest_identical_run, 0) as longest_identical_run,
        coalesce(straight_runs.straight_lined_instruments, []) as straight_lined_instruments,
        coalesce(inconsistent.inconsistent_scales, []) as inconsistent_scales,
        coalesce(duplicates.same_answers_in_team_wave, 0) as same_answers_in_team_wave
    from paced
    left join straight_runs on straight_runs.response_key = paced.response_key
    left join inconsistent on inconsistent.response_key = paced.response_key
    left join duplicates on duplicates.response_key = paced.response_key
),

flagged as (
    select
        measured.*,
        list_filter(
            [
                if(measured.seconds_per_item < getvariable('min_seconds_per_item'), 'too_fast', null),
                if(len(measured.straight_lined_instruments) > 0, 'straight_lined', null),
                if(
                    measured.longest_identical_run >= getvariable('long_run_items'),
                    'long_identical_run',
                    null
                ),
                if(len(measured.inconsistent_scales) > 0, 'inconsistent_reversed', null),
                if(measured.same_answers_in_team_wave > 0, 'duplicate_answers', null)
            ],
            lambda flag: flag is not null
        ) as flags
    from measured
),

excluding as (
    select
        flagged.*,
        list_filter(
            flagged.flags, lambda flag: list_contains(getvariable('careless_exclusions'), flag)
        ) as exclusion_reasons
    from flagged
),

final as (
    select
        excluding.*,
        len(excluding.exclusion_reasons) > 0 as excluded
    from excluding
)

select * from final
