-- One row per response per scale it answered at least one item of (key: response_row, indicator),
-- for every raw response, excluded or not: how many of the scale's items it answered, and the
-- mean of their scored values, score_offset + score_weight x the answer's value (seed_scale_items).
-- Built incrementally: a build adds the responses that are new since the last one; which
-- responses are scored is decided where the scores are made, since a new response can exclude an
-- earlier one (as its duplicate).
-- materialized: incremental
with answers as (
    select * from stg_survey__answers
    where response_row >= getvariable('first_new_response_row')
),

scale_items as (
    select * from seed_scale_items
),

scored_answers as (
    select
        answers.response_row,
        scale_items.indicator,
        scale_items.score_offset + scale_items.score_weight * answers.answer_value as scored_value
    from answers
    inner join scale_items on scale_items.item_id = answers.item_id
),

final as (
    select
        scored_answers.response_row,
        scored_answers.indicator,
        count(*) as items_answered,
        avg(scored_answers.scored_value) as mean_value
    from scored_answers
    group by scored_answers.response_row, scored_answers.indicator
)

select * from final
