-- One row per response in the warehouse (key: response_key, or response_row: its rowid in
-- raw_responses, the key the answers carry): its careless-responding flags, and whether they
-- exclude it from scoring. Flags (the names the `exclude` setting lists):
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
-- Built incrementally by wave: a new response changes the flags of others only as their duplicate,
-- and duplicates are found within one team and wave, so a build with new responses rebuilds only
-- their waves' rows.
-- materialized: incremental by wave
with responses as (
    select
        rowid as response_row,
        *
    from raw_responses
    where in_rebuilt_waves(wave)
),

answers as (
    select * from stg_survey__answers
),

patterns as (
    select * from int_quality__response_patterns
),

paced as (
    select
        responses.response_key,
        responses.response_row,
        responses.team as team_id,
        responses.wave,
        coalesce(patterns.items_answered, 0) as items_answered,
        patterns.answer_set_hash,
        responses.duration_seconds / nullif(patterns.items_answered, 0) as seconds_per_item,
        coalesce(patterns.longest_identical_run, 0) as longest_identical_run,
        coalesce(patterns.straight_lined_instruments, []) as straight_lined_instruments,
        coalesce(patterns.inconsistent_scales, []) as inconsistent_scales
    from responses
    left join patterns on patterns.response_row = responses.response_row
),

duplicate_candidates as (
    -- The same answers give the same hash, so only responses that share a hash within their team
    -- and wave can be duplicates; their patterns are then compared in full, in item order.
    select paced.*
    from paced
    where paced.items_answered >= getvariable('duplicate_min_answers')
    qualify count(*) over (partition by paced.team_id, paced.wave, paced.answer_set_hash) > 1
),

candidate_patterns as (
    select
        answers.response_row,
        string_agg(answers.item_id || '=' || answers.answer_code, ',' order by answers.item_id)
            as answer_pattern
    from answers
    semi join duplicate_candidates on duplicate_candidates.response_row = answers.response_row
    group by answers.response_row
),

duplicates as (
    select
        duplicate_candidates.response_row,
        count(*) over (
            partition by
                duplicate_candidates.team_id,
                duplicate_candidates.wave,
                candidate_patterns.answer_pattern
        ) - 1 as same_answers_in_team_wave
    from duplicate_candidates
    inner join candidate_patterns
        on candidate_patterns.response_row = duplicate_candidates.response_row
),

measured as (
    select
        paced.response_key,
        paced.response_row,
        paced.team_id,
        paced.wave,
        paced.items_answered,
        paced.seconds_per_item,
        paced.longest_identical_run,
        paced.straight_lined_instruments,
        paced.inconsistent_scales,
        coalesce(duplicates.same_answers_in_team_wave, 0) as same_answers_in_team_wave
    from paced
    left join duplicates on duplicates.response_row = paced.response_row
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
