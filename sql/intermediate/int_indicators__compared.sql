-- The aggregated indicators with what they are compared with (same grain and key as
-- int_indicators__aggregated), before suppression. For means and shares:
-- * the group's cell in the previous wave, the change since and its two-sided p-value: a Welch
--   t-test for means, a two-proportion z-test (pooled) for shares. DuckDB has no t or normal
--   distribution, so Welch's t goes to a normal deviate by Wallace's approximation,
--   z = (8 df + 1) / (8 df + 3) x sqrt(df x ln(1 + t^2 / df)) (within 0.001 of the exact p-value
--   from 4 degrees of freedom up, the fewest two cells of 5 can have), and the normal tail is
--   Abramowitz & Stegun 26.2.17 (error under 1e-7). change_significant: p below the configured
--   significance level.
-- * shrunk_value, for teams, parent units, service lines and `group_by` groups (roles): an
--   empirical-Bayes estimate pulled toward the organization's value,
--   organization + (1 - B) x (value - organization) with B = (s2 / n) / (s2 / n + tau2), where s2
--   is the within-group variance pooled over the groups of that type and tau2 the between-group
--   variance (method of moments, at least 0). The fewer a group's respondents, the further it
--   moves. It needs at least three groups of the type; otherwise it is null.
with cells as (
    select * from int_indicators__aggregated
),

waves as (
    select * from int_waves
),

with_previous as (
    select
        cells.*,
        waves.previous_wave,
        previous.n as previous_n,
        previous.value as previous_value,
        previous.sd as previous_sd
    from cells
    -- A roster wave without responses has response rates (0%) but no place among the waves.
    left join waves on waves.wave = cells.wave
    left join cells as previous
        on previous.wave = waves.previous_wave
        and previous.group_type = cells.group_type
        and previous.group_id = cells.group_id
        and previous.indicator = cells.indicator
),

test_statistics as (
    select
        with_previous.*,
        with_previous.value - with_previous.previous_value as change,
        case
            when with_previous.kind = 'mean' and with_previous.n > 1 and with_previous.previous_n > 1
                then with_previous.sd ^ 2 / with_previous.n
        end as variance_of_mean,
        case
            when with_previous.kind = 'mean' and with_previous.n > 1 and with_previous.previous_n > 1
                then with_previous.previous_sd ^ 2 / with_previous.previous_n
        end as previous_variance_of_mean,
        case
            when with_previous.kind = 'share'
                then (
                    with_previous.value * with_previous.n
                    + with_previous.previous_value * with_previous.previous_n
                )
                / (with_previous.n + with_previous.previous_n)
        end as pooled_share
    from with_previous
),

normal_deviates as (
    select
        test_statistics.*,
        case
            when test_statistics.variance_of_mean + test_statistics.previous_variance_of_mean > 0
                then abs(test_statistics.change)
                / sqrt(
                    test_statistics.variance_of_mean + test_statistics.previous_variance_of_mean
                )
        end as welch_t,
        case
            when test_statistics.variance_of_mean + test_statistics.previous_variance_of_mean > 0
                then (test_statistics.variance_of_mean + test_statistics.previous_variance_of_mean)
                ^ 2
                / (
                    test_statistics.variance_of_mean ^ 2 / (test_statistics.n - 1)
                    + test_statistics.previous_variance_of_mean ^ 2
                    / (test_statistics.previous_n - 1)
                )
        end as welch_df,
        case
            when test_statistics.pooled_share > 0 and test_statistics.pooled_share < 1
                then abs(test_statistics.change)
                / sqrt(
                    test_statistics.pooled_share * (1 - test_statistics.pooled_share)
                    * (1 / test_statistics.n + 1 / test_statistics.previous_n)
                )
        end as share_z
    from test_statistics
),

deviates as (
    select
        normal_deviates.*,
        coalesce(
            normal_deviates.share_z,
            (8 * normal_deviates.welch_df + 1) / (8 * normal_deviates.welch_df + 3)
            * sqrt(
                normal_deviates.welch_df
                * ln(1 + normal_deviates.welch_t ^ 2 / normal_deviates.welch_df)
            )
        ) as z
    from normal_deviates
),

tail_terms as (
    select
        deviates.*,
        1 / (1 + 0.2316419 * deviates.z) as tail_term
    from deviates
),

p_values as (
    select
        tail_terms.*,
        least(
            1,
            2 * exp(-0.5 * tail_terms.z * tail_terms.z) / sqrt(2 * pi())
            * tail_terms.tail_term
            * (
                0.319381530 + tail_terms.tail_term
                * (
                    -0.356563782 + tail_terms.tail_term
                    * (
                        1.781477937 + tail_terms.tail_term
                        * (-1.821255978 + tail_terms.tail_term * 1.330274429)
                    )
                )
            )
        ) as change_p_value
    from tail_terms
),

organization as (
    select
        cells.wave,
        cells.indicator,
        cells.value as organization_value
    from cells
    where cells.group_type = 'organization'
),

shrinkable as (
    select * from cells
    where
        cells.kind in ('mean', 'share')
        and cells.group_type != 'organization'
        and cells.facet_kind in ('all', 'group')
),

spread_by_type as (
    -- Decimal sums keep the estimate the same whatever order the groups are added up in.
    select
        shrinkable.wave,
        shrinkable.group_type,
        shrinkable.indicator,
        count(*) as group_count,
        sum(cast(shrinkable.value as decimal(38, 12))) as value_sum,
        sum(cast(shrinkable.value ^ 2 as decimal(38, 12))) as value_square_sum,
        sum(cast(coalesce(shrinkable.sd, 0) ^ 2 * (shrinkable.n - 1) as decimal(38, 12)))
            as squared_deviation_sum,
        sum(shrinkable.n - 1) as degrees_of_freedom,
        sum(cast(1 / shrinkable.n as decimal(38, 12))) as inverse_n_sum
    from shrinkable
    group by shrinkable.wave, shrinkable.group_type, shrinkable.indicator
    having count(*) >= 3 and sum(shrinkable.n - 1) > 0
),

variance_components as (
    select
        spread_by_type.wave,
        spread_by_type.group_type,
        spread_by_type.indicator,
        cast(spread_by_type.squared_deviation_sum as double)
        / spread_by_type.degrees_of_freedom as within_variance,
        greatest(
            0,
            cast(
                spread_by_type.value_square_sum
                - spread_by_type.value_sum ^ 2 / spread_by_type.group_count
                as double
            )
            / (spread_by_type.group_count - 1)
            - cast(spread_by_type.squared_deviation_sum as double)
            / spread_by_type.degrees_of_freedom
            * cast(spread_by_type.inverse_n_sum as double) / spread_by_type.group_count
        ) as between_variance
    from spread_by_type
),

shrinkage as (
    select
        shrinkable.wave,
        shrinkable.group_type,
        shrinkable.group_id,
        shrinkable.indicator,
        case
            when variance_components.within_variance / shrinkable.n
                + variance_components.between_variance = 0
                then shrinkable.value
            else organization.organization_value
                + variance_components.between_variance
                / (
                    variance_components.within_variance / shrinkable.n
                    + variance_components.between_variance
                )
                * (shrinkable.value - organization.organization_value)
        end as shrunk_value
    from shrinkable
    inner join variance_components
        on variance_components.wave = shrinkable.wave
        and variance_components.group_type = shrinkable.group_type
        and variance_components.indicator = shrinkable.indicator
    inner join organization
        on organization.wave = shrinkable.wave
        and organization.indicator = shrinkable.indicator
),

final as (
    select
        p_values.wave,
        p_values.group_type,
        p_values.group_id,
        p_values.indicator,
        p_values.kind,
        p_values.facet_kind,
        p_values.respondents,
        p_values.invited,
        p_values.n,
        p_values.value,
        p_values.sd,
        p_values.ci_low,
        p_values.ci_high,
        shrinkage.shrunk_value,
        p_values.previous_wave,
        p_values.previous_value,
        p_values.change,
        p_values.change_p_value,
        p_values.change_p_value < getvariable('significance_level') as change_significant
    from p_values
    left join shrinkage
        on shrinkage.wave = p_values.wave
        and shrinkage.group_type = p_values.group_type
        and shrinkage.group_id = p_values.group_id
        and shrinkage.indicator = p_values.indicator
)

select * from final
