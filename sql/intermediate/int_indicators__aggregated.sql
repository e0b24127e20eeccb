-- One row per wave x group x indicator (key: wave, group_type, group_id, indicator), before
-- suppression. Means carry a 95% t interval; band shares (indicator <scale>_share_<band>) carry a
-- 95% Wilson score interval. `respondents` counts every response of the group in the wave.
with members as (
    select * from int_group_members
),

scores as (
    select * from int_scale_scores__banded where score is not null
),

bands as (
    select * from seed_scale_bands
),

t_critical as (
    select * from seed_t_critical
),

respondents as (
    select wave, group_type, group_id, count(*) as respondents
    from members
    group by wave, group_type, group_id
),

group_scores as (
    select
        members.wave,
        members.group_type,
        members.group_id,
        scores.indicator,
        scores.score,
        scores.band_id
    from members
    inner join scores on scores.response_key = members.response_key
),

exact_sums as (
    -- Exact decimal sums make every statistic independent of the order DuckDB's threads add up
    -- rows in, so a re-run publishes the very same numbers.
    select
        wave,
        group_type,
        group_id,
        indicator,
        count(*) as n,
        sum(cast(score as decimal(38, 6))) as score_sum,
        sum(cast(score as decimal(38, 6)) * cast(score as decimal(38, 6))) as score_square_sum
    from group_scores
    group by wave, group_type, group_id, indicator
),

mean_stats as (
    select
        wave,
        group_type,
        group_id,
        indicator,
        n,
        cast(score_sum as double) / n as mean_score,
        case
            when n > 1
                then sqrt(
                    greatest(
                        cast(score_square_sum as double)
                        - cast(score_sum as double) * cast(score_sum as double) / n,
                        0
                    )
                    / (n - 1)
                )
        end as sd_score
    from exact_sums
),

means as (
    select
        mean_stats.wave,
        mean_stats.group_type,
        mean_stats.group_id,
        mean_stats.indicator,
        mean_stats.n,
        mean_stats.mean_score as value,
        mean_stats.mean_score
        - coalesce(t_critical.t975, 1.959964) * mean_stats.sd_score / sqrt(mean_stats.n)
            as ci_low,
        mean_stats.mean_score
        + coalesce(t_critical.t975, 1.959964) * mean_stats.sd_score / sqrt(mean_stats.n)
            as ci_high
    from mean_stats
    left join t_critical on t_critical.df = mean_stats.n - 1
),

band_counts as (
    select
        mean_stats.wave,
        mean_stats.group_type,
        mean_stats.group_id,
        mean_stats.indicator || '_share_' || bands.band_id as indicator,
        mean_stats.n,
        count(group_scores.score) as in_band
    from mean_stats
    inner join bands on bands.indicator = mean_stats.indicator
    left join group_scores
        on group_scores.wave = mean_stats.wave
        and group_scores.group_type = mean_stats.group_type
        and group_scores.group_id = mean_stats.group_id
        and group_scores.indicator = mean_stats.indicator
        and group_scores.band_id = bands.band_id
    group by all
),

wilson as (
    select
        band_counts.*,
        band_counts.in_band / band_counts.n as share,
        1.959964 * 1.959964 as z_squared
    from band_counts
),

shares as (
    select
        wave,
        group_type,
        group_id,
        indicator,
        n,
        share as value,
        (share + z_squared / (2 * n) - 1.959964 * sqrt(share * (1 - share) / n + z_squared / (4 * n * n)))
        / (1 + z_squared / n) as ci_low,
        (share + z_squared / (2 * n) + 1.959964 * sqrt(share * (1 - share) / n + z_squared / (4 * n * n)))
        / (1 + z_squared / n) as ci_high
    from wilson
),

final as (
    select
        indicators.*,
        respondents.respondents
    from (
        select * from means
        union all
        select * from shares
    ) as indicators
    inner join respondents using (wave, group_type, group_id)
)

select * from final
