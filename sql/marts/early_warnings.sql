-- Published. One row per wave x team x watched mean indicator x rule that fired (key: wave,
-- team_id, indicator, rule). Every scale is watched unless [early_warnings] indicators lists some;
-- the rules in use are configured ([early_warnings] rules):
-- * 'worsened': the team's mean changed significantly for the worse since the previous wave
--   (change_p_value below the significance level);
-- * 'crossed_band': the team's mean crossed into the least favourable band (the highest band of
--   a scale where high is bad, the lowest where low is bad) from another band in the previous wave
--   (band_id, previous_band_id; a mean takes the band a score of that value would);
-- * 'far_worse_than_organization': the team's mean is worse than the organization's by at least
--   the configured number of organization standard deviations (organization_sd_worse says by how
--   many), and its 95% interval does not reach the organization's value;
-- * 'high_band_share': the team's share of respondents in the scale's least favourable band
--   (high_band_share, least_favourable_band_id) is above the organization's
--   (organization_high_band_share) by at least the configured margin (a proportion), and the
--   share's 95% interval does not reach the organization's share.
-- evidence says it in plain words (no test statistics: those are in the columns beside it); the numbers are beside it, and the team's name, service line and
-- parent unit and the indicator's label and direction as in team_indicators. Only cells published
-- in team_indicators and org_indicators are used, so no warning says more than they do.
with indicators as (
    select * from int_indicators__suppressed where kind = 'mean' and not suppressed
),

scales as (
    select * from seed_scale_definitions
),

bands as (
    select * from seed_scale_bands
),

watched as (
    -- An empty list watches every scale.
    select scales.indicator
    from scales
    where
        len(getvariable('early_warning_indicators')) = 0
        or list_contains(getvariable('early_warning_indicators'), scales.indicator)
),

band_shares as (
    select * from int_indicators__suppressed where kind = 'share' and not suppressed
),

least_favourable_bands as (
    select
        bands.indicator,
        arg_max(bands.band_id, if(scales.risk_when = 'high', bands.band_order, -bands.band_order))
            as band_id
    from bands
    inner join scales on scales.indicator = bands.indicator
    group by bands.indicator
),

rules as (
    select unnest(getvariable('early_warning_rules')) as rule
),

team_labels as (
    select * from int_team_labels
),

definitions as (
    select * from indicator_definitions
),

organization as (
    select
        indicators.wave,
        indicators.indicator,
        indicators.value as organization_value,
        indicators.sd as organization_sd
    from indicators
    where indicators.group_type = 'organization'
),

team_means as (
    select
        indicators.wave,
        indicators.group_id as team_id,
        indicators.indicator,
        scales.scale_name,
        if(scales.risk_when = 'high', 1, -1) as worse_direction,
        indicators.n,
        indicators.value,
        indicators.ci_low,
        indicators.ci_high,
        indicators.previous_wave,
        indicators.previous_value,
        indicators.change,
        indicators.change_p_value,
        indicators.change_significant,
        organization.organization_value,
        organization.organization_sd
    from indicators
    inner join watched on watched.indicator = indicators.indicator
    inner join scales on scales.indicator = indicators.indicator
    left join organization
        on organization.wave = indicators.wave
        and organization.indicator = indicators.indicator
    where indicators.group_type = 'team'
),

mean_bands as (
    -- The band rule of int_scale_scores__banded, applied to the team's mean now and before.
    select
        team_means.wave,
        team_means.team_id,
        team_means.indicator,
        arg_max(bands.band_id, bands.band_order) filter (
            where team_means.value > bands.lower
            or (bands.lower_inclusive and team_means.value = bands.lower)
        ) as band_id,
        max(bands.band_order) filter (
            where team_means.value > bands.lower
            or (bands.lower_inclusive and team_means.value = bands.lower)
        ) as band_order,
        arg_max(bands.band_id, bands.band_order) filter (
            where team_means.previous_value > bands.lower
            or (bands.lower_inclusive and team_means.previous_value = bands.lower)
        ) as previous_band_id,
        max(bands.band_order) filter (
            where team_means.previous_value > bands.lower
            or (bands.lower_inclusive and team_means.previous_value = bands.lower)
        ) as previous_band_order,
        max(bands.band_order) as band_count
    from team_means
    inner join bands on bands.indicator = team_means.indicator
    group by team_means.wave, team_means.team_id, team_means.indicator
),

candidates as (
    select
        team_means.*,
        mean_bands.band_id,
        mean_bands.band_order,
        mean_bands.previous_band_id,
        mean_bands.previous_band_order,
        if(team_means.worse_direction > 0, mean_bands.band_count, 1) as worst_band_order,
        least_favourable_bands.band_id as least_favourable_band_id,
        team_share.value as high_band_share,
        team_share.ci_low as high_band_share_ci_low,
        organization_share.value as organization_high_band_share
    from team_means
    left join mean_bands
        on mean_bands.wave = team_means.wave
        and mean_bands.team_id = team_means.team_id
        and mean_bands.indicator = team_means.indicator
    left join least_favourable_bands
        on least_favourable_bands.indicator = team_means.indicator
    left join band_shares as team_share
        on team_share.wave = team_means.wave
        and team_share.group_type = 'team'
        and team_share.group_id = team_means.team_id
        and team_share.indicator
        = team_means.indicator || '_share_' || least_favourable_bands.band_id
    left join band_shares as organization_share
        on organization_share.wave = team_means.wave
        and organization_share.group_type = 'organization'
        and organization_share.indicator
        = team_means.indicator || '_share_' || least_favourable_bands.band_id
),

worsened as (
    select
        candidates.*,
        'worsened' as rule,
        format(
            '{} {} from {:.1f} in {} to {:.1f} in {} (change {:+.1f}), more than chance'
            || ' would explain',
            candidates.scale_name,
            if(candidates.change > 0, 'rose', 'fell'),
            candidates.previous_value,
            candidates.previous_wave,
            candidates.value,
            candidates.wave,
            candidates.change
        ) as evidence
    from candidates
    where candidates.change_significant and candidates.change * candidates.worse_direction > 0
),

crossed_band as (
    select
        candidates.*,
        'crossed_band' as rule,
        format(
            '{} moved from the {} band ({:.1f} in {}) into the {} band ({:.1f} in {})',
            candidates.scale_name,
            candidates.previous_band_id,
            candidates.previous_value,
            candidates.previous_wave,
            candidates.band_id,
            candidates.value,
            candidates.wave
        ) as evidence
    from candidates
    where
        candidates.previous_value is not null
        and candidates.band_order = candidates.worst_band_order
        and candidates.previous_band_order != candidates.worst_band_order
),

far_worse_than_organization as (
    select
        candidates.*,
        'far_worse_than_organization' as rule,
        format(
            '{} {:.1f} against {:.1f} for the whole organization: clearly worse, and by a wide'
            || ' margin',
            candidates.scale_name,
            candidates.value,
            candidates.organization_value
        ) as evidence
    from candidates
    where
        (candidates.value - candidates.organization_value) * candidates.worse_direction
        >= getvariable('far_worse_than_organization_sd') * candidates.organization_sd
        and if(
            candidates.worse_direction > 0,
            candidates.ci_low > candidates.organization_value,
            candidates.ci_high < candidates.organization_value
        )
),

high_band_share as (
    select
        candidates.*,
        'high_band_share' as rule,
        format(
            '{:.0f}% in the {} band of {} against {:.0f}% across the whole organization',
            100 * candidates.high_band_share,
            candidates.least_favourable_band_id,
            lower(candidates.scale_name),
            100 * candidates.organization_high_band_share
        ) as evidence
    from candidates
    where
        candidates.high_band_share - candidates.organization_high_band_share
        >= getvariable('high_band_share_above')
        and candidates.high_band_share_ci_low > candidates.organization_high_band_share
),

fired as (
    select * from worsened
    union all
    select * from crossed_band
    union all
    select * from far_worse_than_organization
    union all
    select * from high_band_share
),

final as (
    select
        fired.wave,
        fired.team_id,
        team_labels.team_name,
        team_labels.service_line,
        team_labels.parent_unit,
        fired.indicator,
        definitions.label as indicator_label,
        definitions.direction,
        fired.rule,
        fired.evidence,
        fired.n,
        fired.value,
        fired.ci_low,
        fired.ci_high,
        fired.band_id,
        fired.previous_wave,
        fired.previous_value,
        fired.previous_band_id,
        fired.change,
        fired.change_p_value,
        fired.organization_value,
        fired.organization_sd,
        (fired.value - fired.organization_value) * fired.worse_direction
        / fired.organization_sd as organization_sd_worse,
        fired.least_favourable_band_id,
        fired.high_band_share,
        fired.organization_high_band_share
    from fired
    inner join rules on rules.rule = fired.rule
    left join team_labels
        on team_labels.wave = fired.wave
        and team_labels.team_id = fired.team_id
    left join definitions on definitions.indicator = fired.indicator
)

select * from final
