-- One row per wave x scale of two or more items (key: wave, indicator): Cronbach's alpha over the
-- responses that answered every item of the scale (complete cases, counted in n):
-- alpha = k / (k - 1) x (1 - sum of the item variances / variance of the total), with each item as
-- it is scored (score_offset + score_weight x value, so its variance is score_weight^2 x the
-- variance of the answer values) and the total as the sum of the scored items. Variances are
-- sample variances from exact decimal sums, so that re-runs give the very same alpha.
-- Built incrementally by wave: a build with new responses rebuilds only their waves' rows.
-- materialized: incremental by wave
with scores as (
    select * from int_scale_scores__scored
    where in_rebuilt_waves(wave)
),

answers as (
    select * from stg_survey__answers
),

scales as (
    select * from seed_scale_definitions where item_count >= 2
),

scale_items as (
    select * from seed_scale_items
),

complete_cases as (
    select
        scores.response_row,
        scores.wave,
        scores.indicator,
        scales.item_count,
        -- A complete sum scale is not prorated: its score is the total. A mean or 0-100 score is
        -- the total over k.
        case
            when scales.method = 'sum' then scores.score else scores.score * scales.item_count
        end as total
    from scores
    inner join scales on scales.indicator = scores.indicator
    where scores.items_answered = scales.item_count
),

totals as (
    select
        complete_cases.wave,
        complete_cases.indicator,
        any_value(complete_cases.item_count) as item_count,
        count(*) as n,
        sum(cast(complete_cases.total as decimal(38, 6))) as total_sum,
        sum(
            cast(complete_cases.total as decimal(38, 6))
            * cast(complete_cases.total as decimal(38, 6))
        ) as total_square_sum
    from complete_cases
    group by complete_cases.wave, complete_cases.indicator
),

scale_answers as (
    select
        answers.response_row,
        scale_items.indicator,
        scale_items.item_id,
        scale_items.score_weight,
        answers.answer_value
    from answers
    inner join scale_items on scale_items.item_id = answers.item_id
),

item_sums as (
    -- The answers are matched to the complete cases by (response, scale), one row per case, rather
    -- than the cases expanded to one row per item first.
    select
        complete_cases.wave,
        complete_cases.indicator,
        scale_answers.item_id,
        any_value(scale_answers.score_weight) as score_weight,
        count(*) as n,
        sum(cast(scale_answers.answer_value as decimal(38, 6))) as value_sum,
        sum(
            cast(scale_answers.answer_value as decimal(38, 6))
            * cast(scale_answers.answer_value as decimal(38, 6))
        ) as value_square_sum
    from scale_answers
    inner join complete_cases
        on complete_cases.response_row = scale_answers.response_row
        and complete_cases.indicator = scale_answers.indicator
    group by complete_cases.wave, complete_cases.indicator, scale_answers.item_id
),

item_variances as (
    select
        item_sums.wave,
        item_sums.indicator,
        cast(
            sum(
                cast(
                    item_sums.score_weight * item_sums.score_weight
                    * cast(
                        item_sums.n * item_sums.value_square_sum
                        - item_sums.value_sum * item_sums.value_sum
                        as double
                    )
                    / (item_sums.n * (item_sums.n - 1))
                    as decimal(38, 12)
                )
            ) as double
        ) as item_variance_sum
    from item_sums
    where item_sums.n > 1
    group by item_sums.wave, item_sums.indicator
),

total_variances as (
    select
        totals.*,
        cast(totals.n * totals.total_square_sum - totals.total_sum * totals.total_sum as double)
        / (totals.n * (totals.n - 1)) as total_variance
    from totals
    where totals.n > 1
),

final as (
    select
        total_variances.wave,
        total_variances.indicator,
        total_variances.item_count,
        total_variances.n,
        case
            when total_variances.total_variance > 0
                then total_variances.item_count / (total_variances.item_count - 1)
                * (1 - item_variances.item_variance_sum / total_variances.total_variance)
        end as alpha
    from total_variances
    inner join item_variances using (wave, indicator)
)

select * from final
