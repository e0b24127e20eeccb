"""The strategy library (strategies/*.toml): every file loads, names only what the instruments
define, and each strategy's rule matches the pattern it answers and not a near miss."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.instruments import Registry
from resilience.strategies import TeamSignals, load_strategies, matches
from resilience.warehouse import read_action_log

STRATEGIES = {strategy.id: strategy for strategy in load_strategies()}

# Per strategy: signals it must match, and near misses it must not (the right scale without the
# exposure, or the exposure without the scale's warning, or the exposure just under its share).
CASES = {
    "incident_check_ins": (
        TeamSignals(frozenset({"proqol_sts"}), {("ctx_client_aggression", "weekly"): 0.25}),
        [
            TeamSignals(frozenset({"proqol_sts"}), {("ctx_client_aggression", "weekly"): 0.19}),
            TeamSignals(frozenset({"proqol_bo"}), {("ctx_client_aggression", "weekly"): 0.5}),
            TeamSignals(frozenset({"proqol_sts"}), {}),
        ],
    ),
    "reflective_supervision": (
        TeamSignals(
            frozenset({"cbi_client"}),
            {("ctx_stimulant_share", "three_quarters_or_more"): 0.4},
        ),
        [
            TeamSignals(
                frozenset({"cbi_client"}),
                {("ctx_stimulant_share", "half_to_three_quarters"): 0.9},
            ),
            TeamSignals(
                frozenset({"cbi_work"}),
                {("ctx_stimulant_share", "three_quarters_or_more"): 0.9},
            ),
        ],
    ),
    "peer_support": (
        TeamSignals(frozenset({"brs_resilience"}), {}),
        [TeamSignals(frozenset({"proqol_sts", "cbi_work"}), {})],
    ),
    "caseload_limits": (
        TeamSignals(frozenset({"cbi_work"}), {}),
        [TeamSignals(frozenset({"proqol_cs", "brs_resilience"}), {})],
    ),
    "harm_reduction_norms": (
        TeamSignals(
            frozenset({"proqol_cs"}),
            {("ctx_stimulant_share", "three_quarters_or_more"): 0.3},
        ),
        [
            TeamSignals(frozenset({"proqol_cs"}), {("ctx_stimulant_share", "under_half"): 1.0}),
            TeamSignals(frozenset(), {("ctx_stimulant_share", "three_quarters_or_more"): 1.0}),
        ],
    ),
}


def test_every_strategy_has_a_case():
    assert set(CASES) == set(STRATEGIES)


@pytest.mark.parametrize("strategy_id", sorted(CASES))
def test_a_strategy_matches_its_pattern_and_not_a_near_miss(strategy_id):
    match, misses = CASES[strategy_id]
    strategy = STRATEGIES[strategy_id]

    assert matches(strategy, match)
    assert [matches(strategy, miss) for miss in misses] == [False] * len(misses)


def test_strategies_name_only_scales_and_exposure_bands_the_instruments_define(
    registry: Registry,
):
    scales = {scale.indicator for scale in registry.scales}
    bands = {(item.id, band.id) for item in registry.items for band in item.exposure_bands}
    for strategy in STRATEGIES.values():
        assert set(strategy.match.indicators) <= scales, strategy.id
        assert strategy.moves.indicator in scales, strategy.id
        for condition in strategy.match.exposures:
            for band in condition.bands:
                assert (condition.item, band) in bands, strategy.id


def test_each_strategy_names_its_source_by_title_and_says_what_it_costs():
    for strategy in STRATEGIES.values():
        assert "http" not in strategy.source and '"' not in strategy.source
        assert strategy.cost and strategy.moves.when


def test_a_bad_strategy_file_is_named(tmp_path: Path):
    (tmp_path / "broken.toml").write_text('id = "Not An Id"\n', encoding="utf-8")

    with pytest.raises(ValueError, match=r"broken\.toml"):
        load_strategies(tmp_path)


def test_the_action_log_may_name_only_known_strategies(tmp_path: Path):
    log = tmp_path / "actions.csv"
    log.write_text(
        "team_id,date,action,strategy\n"
        "T001,2025-07-01,Peer circle started, Peer_Support \n"
        "T002,2025-07-02,Evening hours,\n"
        "T003,2025-07-03,Yoga,mindfulness_app\n",
        encoding="utf-8",
    )

    with pytest.raises(ValueError, match=r"line 4, column strategy: 'mindfulness_app'"):
        read_action_log(log, set(STRATEGIES))
    # Without the library, the log is read as written; a log without the column has none.
    assert list(read_action_log(log)["strategy"][:2].fillna("")) == ["Peer_Support ", ""]
    log.write_text("team_id,date,action\nT001,2025-07-01,Peer circle\n", encoding="utf-8")
    assert read_action_log(log, set(STRATEGIES))["strategy"].isna().all()
