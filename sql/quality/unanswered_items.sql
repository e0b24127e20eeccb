-- Per file per item, the answers that meant "not answered" and how often each was given
-- (key: file_sha256, item_id): they count as unanswered items, never as bad rows.
with unanswered as (
    select * from unanswered_answers
),

final as (
    select
        unanswered.file_sha256,
        unanswered.item_id,
        sum(unanswered.answers) as answers,
        string_agg(
            case when unanswered.answer = '' then 'blank' else unanswered.answer end
            || ' ' || unanswered.answers,
            ', '
            order by unanswered.answers desc, unanswered.answer
        ) as answers_given
    from unanswered
    group by unanswered.file_sha256, unanswered.item_id
)

select * from final
order by file_sha256, item_id
