"""Deterministic sample data: Qualtrics-style staff-survey exports, a roster and a column mapping.

The same arguments always give byte-identical files, so the committed sample in `data/sample/` can
be regenerated and diffed, tests can build small samples in a temporary folder, and benchmarks can
build a million responses in seconds (everything per response is vectorised with numpy).

Answers come from a latent model rather than from independent dice, so that the pipeline's
indicators, trends and careless-responding checks have something true to find:

* every respondent reports exposures (stimulant caseload share, client aggression, critical
  incidents, reflective supervision, debriefs) drawn around their team's tendencies, which depend on
  the team's service line plus a random team effect;
* latent secondary traumatic stress and burnout rise with aggression, stimulant share and critical
  incidents and fall with supervision; compassion satisfaction and resilience move the other way;
  intent to leave rises with burnout;
* one team worsens and one improves steadily across waves (`SampleSummary.worsening_team`,
  `improving_team`), by several ProQOL points between the first and the last wave; the committed
  action log says the improving team started a strategy before each later wave, so its
  improvement is the planted effect of those strategies: `SampleSummary.planted_effects` gives it
  in points of each scale, per pair of consecutive waves, worked out against the same team
  answering the same draws without the improvement (so the exports themselves do not depend on
  it);
* items follow from the latent scores through ordinal thresholds plus noise, with reversed items
  answered in the reversed direction, and item intercepts solved so that population means land on
  `TARGET_SCALE_MEANS`.

`responses` counts genuine responses (Status 0, each counted once, partial ones included): the
roster's respondents. Preview, test and spam rows and the duplicated copies of a few rows are added
on top of it, and counted separately in the summary.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import norm

from resilience.instruments import Item, Registry, Scale, load_registry

SOURCE = "qualtrics_staff_survey"
EXPORT_GLOB = "staff_survey_*.csv"

# Qualtrics' own metadata columns: (column id, question-text row, ImportId), in export order.
METADATA_COLUMNS = (
    ("StartDate", "Start Date", "startDate"),
    ("EndDate", "End Date", "endDate"),
    ("Status", "Response Type", "status"),
    ("IPAddress", "IP Address", "ipAddress"),
    ("Progress", "Progress", "progress"),
    ("Duration (in seconds)", "Duration (in seconds)", "duration"),
    ("Finished", "Finished", "finished"),
    ("RecordedDate", "Recorded Date", "recordedDate"),
    ("ResponseId", "Response ID", "_recordId"),
    ("RecipientLastName", "Recipient Last Name", "recipientLastName"),
    ("RecipientFirstName", "Recipient First Name", "recipientFirstName"),
    ("RecipientEmail", "Recipient Email", "recipientEmail"),
    ("ExternalReference", "External Data Reference", "externalDataReference"),
    ("LocationLatitude", "Location Latitude", "locationLatitude"),
    ("LocationLongitude", "Location Longitude", "locationLongitude"),
    ("DistributionChannel", "Distribution Channel", "distributionChannel"),
    ("UserLanguage", "User Language", "userLanguage"),
)
EMBEDDED_DATA = ("team", "wave")
COMMENT_QUESTION = "Anything else you want to tell us?"

# Question order of the survey. The wording is ours: the official item wording is entered by each
# organization in its survey tool and never shipped.
QUESTION_ORDER = ("proqol", "cbi", "brs", "miniz", "ctx")
QUESTION_STEMS = {
    "proqol": (
        "Thinking about your work with clients over the last 30 days,\n"
        "how often has each of the following been true for you?"
    ),
    "cbi": "How often do you feel like this?\n(Select one answer per line, even if unsure.)",
    "brs": "How much do you agree or disagree with each statement, about yourself, in general?",
    "miniz": "Which of these best describes how you feel about burnout, right now?",
}

STATUS_RESPONSE, STATUS_PREVIEW, STATUS_TEST, STATUS_SPAM = 0, 1, 2, 8

FIRST_WAVE_YEAR, FIRST_WAVE_MONTH, MONTHS_BETWEEN_WAVES = 2025, 5, 4
FIELDWORK_SECONDS = 21 * 24 * 3600
# Qualtrics records an abandoned response after a week without activity, or when the survey
# closes, whichever comes first.
PARTIAL_RECORDED_AFTER_SECONDS = 7 * 24 * 3600

# Population means of the scored scales that the item intercepts are solved for (ProQOL: sums of
# 10 items; CBI: 0-100 means; BRS and Mini-Z: means of 1-5 answers).
TARGET_SCALE_MEANS = {
    "proqol_cs": 38.5,
    "proqol_bo": 23.5,
    "proqol_sts": 22.0,
    "cbi_personal": 46.0,
    "cbi_work": 41.0,
    "cbi_client": 36.0,
    "brs_resilience": 3.4,
    "miniz_burnout": 2.2,
}
# Which latent traits each scale measures, and how much scale-specific variance it has on top, so
# that the CBI and Mini-Z correlate with the ProQOL burnout scale without duplicating it.
SCALE_LATENTS: dict[str, tuple[dict[str, float], float]] = {
    "proqol_cs": ({"compassion_satisfaction": 1.0}, 0.0),
    "proqol_bo": ({"burnout": 1.0}, 0.0),
    "proqol_sts": ({"secondary_trauma": 1.0}, 0.0),
    "cbi_personal": ({"burnout": 0.8, "secondary_trauma": 0.2}, 0.5),
    "cbi_work": ({"burnout": 1.0}, 0.5),
    "cbi_client": ({"burnout": 0.6, "secondary_trauma": 0.5}, 0.5),
    "brs_resilience": ({"resilience": 1.0}, 0.0),
    "miniz_burnout": ({"burnout": 1.0}, 0.4),
}
# Item noise (in latent standard deviations) per scale: chosen so that internal consistency comes
# out near the published alphas (ProQOL CS .88, BO .75, STS .81; CBI and BRS about .85).
ITEM_NOISE = {
    "proqol_cs": 1.1,
    "proqol_bo": 1.1,
    "proqol_sts": 1.45,
    "cbi_personal": 0.8,
    "cbi_work": 0.8,
    "cbi_client": 0.8,
    "brs_resilience": 0.8,
    "miniz_burnout": 0.5,
}
# The reversed ProQOL burnout items are the weak ones in published data: they load less.
REVERSED_ITEM_LOADINGS = {"proqol_bo": 0.5}
RANDOM_STREAMS = (
    "teams",
    "staffing",
    "staff",
    "answers",
    "careless",
    "comments",
    "extras",
    "metadata",
    "duplicates",
)
CONTEXT_ITEMS = (
    "ctx_stimulant_share",
    "ctx_client_aggression",
    "ctx_critical_incident",
    "ctx_supervision",
    "ctx_debrief",
    "ctx_intent_to_leave",
)


@dataclass(frozen=True)
class ServiceLine:
    name: str
    share: float  # of all teams
    name_templates: tuple[str, ...]  # "{area}" for area-named teams, "{number}" for numbered units
    stimulant_share: float  # team tendencies, in standard deviations of the respondent-level trait
    aggression: float
    supervision: float
    incident_rate: float  # probability of witnessing an overdose or psychosis in a month


SERVICE_LINES = (
    ServiceLine(
        "Harm reduction",
        0.25,
        (
            "Mobile outreach {area}",
            "Syringe services {area}",
            "Drop-in center {area}",
            "Overdose prevention site {number}",
            "Peer navigation {area}",
        ),
        stimulant_share=0.9,
        aggression=0.3,
        supervision=-0.3,
        incident_rate=0.35,
    ),
    ServiceLine(
        "Outpatient treatment",
        0.22,
        (
            "Outpatient clinic {area}",
            "Contingency management program {area}",
            "Intensive outpatient {area}",
            "Stimulant treatment clinic {number}",
        ),
        stimulant_share=0.3,
        aggression=-0.4,
        supervision=0.4,
        incident_rate=0.08,
    ),
    ServiceLine(
        "Inpatient withdrawal",
        0.13,
        ("Detox unit {number}", "Withdrawal management ward {number}"),
        stimulant_share=0.4,
        aggression=0.5,
        supervision=0.2,
        incident_rate=0.30,
    ),
    ServiceLine(
        "Emergency department",
        0.1,
        ("ED addiction consult {area}", "ED bridge team {area}"),
        stimulant_share=0.1,
        aggression=0.8,
        supervision=-0.6,
        incident_rate=0.45,
    ),
    ServiceLine(
        "Housing support",
        0.16,
        ("Housing First team {area}", "Supported housing {area}", "Shelter health team {area}"),
        stimulant_share=0.2,
        aggression=0.0,
        supervision=-0.1,
        incident_rate=0.18,
    ),
    ServiceLine(
        "Crisis response",
        0.14,
        ("Mobile crisis team {area}", "Crisis stabilization unit {number}"),
        stimulant_share=0.5,
        aggression=0.7,
        supervision=-0.2,
        incident_rate=0.38,
    ),
)
AREAS = (
    "North", "South", "East", "West", "Central", "Riverside", "Harbor", "Hillside", "Valley",
    "Lakeside", "Old Town", "Eastgate", "Westfield", "Northbank", "Southside", "Airport",
)  # fmt: skip
PARENT_UNIT_SIZES = (3, 8)

FIRST_NAMES = (
    "Maria", "James", "Aisha", "Daniel", "Linh", "Sofia", "Michael", "Priya", "David", "Fatima",
    "Chris", "Elena", "Kwame", "Laura", "José", "Hannah", "Samuel", "Mei", "Robert", "Amara",
    "Lucas", "Grace", "Omar", "Zoe", "Jamal", "Ingrid", "Tom", "Chloé", "Ravi", "Sarah", "Diego",
    "Emily", "Yusuf", "Anna", "Kevin", "Leila", "Marcus", "Rosa", "Ahmed", "Julia",
)  # fmt: skip
LAST_NAMES = (
    "Garcia", "Smith", "Okafor", "Nguyen", "Johnson", "Patel", "Müller", "Brown", "Kowalski",
    "Williams", "Haddad", "Jones", "Rossi", "Kim", "Martinez", "O'Brien", "Andersen", "Davis",
    "Mensah", "Lopez", "Taylor", "Silva", "Cohen", "Wilson", "Yamamoto", "Moore", "Dubois",
    "Anderson", "Hernández", "Clark", "Novak", "Lewis", "Ahmed", "Walker", "Schmidt", "Young",
    "Chen", "Hall", "Ivanova", "Wright",
)  # fmt: skip
EMAIL_DOMAIN = "northvale-health.example.org"

# Free-text comments are picked by the respondent's burnout, so that a reader of the sample finds
# the comments consistent with the scores. Some mention a person or a unique role, like real ones.
STRAINED_COMMENTS = (
    "Caseloads are too high to do this work safely.",
    "We need a debrief after every overdose, not just the ones that end badly.",
    "Aggression on shift has gone up since the meth got stronger, and nobody talks about it.",
    "I love my clients but I am exhausted.\nSomething has to change.",
    "Supervision keeps getting cancelled.",
    "Nights are short-staffed, again.",
    "Too much paperwork, not enough time with people.",
    "Please don't show this to management, I'm the only nurse on nights.",
    "Ask Sam about the van schedule, it's a mess.",
)
SUPPORTED_COMMENTS = (
    "Our team lead checks in after hard shifts, which helps a lot.",
    "Thanks for asking.",
    "Reflective supervision has made a real difference this year.",
    "The peer support group is great, please keep it.",
    "Good team, hard job.\nProud of what we do.",
    "More training on stimulant psychosis, please.",
)
SPAM_COMMENTS = ("good", "nice survey", "asdfgh", "Best prices, visit our website", "ok ok ok")


@dataclass(frozen=True)
class ExportColumn:
    """One column of a question in the export; `item_id` is None for the free-text question."""

    question: str  # the Qualtrics question: several columns for a matrix question
    tag: str
    import_id: str
    text: str
    item_id: str | None


@dataclass(frozen=True)
class SampleSummary:
    """What `generate_sample` wrote, and the ground truth planted in it.

    `responses` counts genuine responses (Status 0, each once); `rows_by_status` counts the rows
    written, so its Status 0 entry is `responses + duplicate_rows`.
    """

    out_dir: Path
    exports: tuple[Path, ...]
    roster: Path
    mapping: Path
    ground_truth: Path
    seed: int
    teams: int
    waves: tuple[str, ...]
    responses: int
    rows_by_status: Mapping[int, int]
    duplicate_rows: int
    partial_responses: int
    respondents: Mapping[str, Mapping[str, int]]  # wave -> team -> genuine responses
    headcount: int  # summed over teams and waves
    worsening_team: str
    improving_team: str
    small_teams: tuple[str, ...]  # fewer than 5 respondents in at least one wave
    duplicated_response_ids: tuple[str, ...]
    straight_liner_response_ids: tuple[str, ...]
    fast_response_ids: tuple[str, ...]
    # (wave before, wave after) -> indicator -> the improving team's planted change in its mean.
    planted_effects: Mapping[tuple[str, str], Mapping[str, float]]

    def describe(self) -> str:
        """A few lines for a person: what was written where, and what was planted (the ids
        themselves are in the ground truth file, not here: at a million responses they fill
        megabytes)."""
        previews = sum(rows for status, rows in self.rows_by_status.items() if status != 0)
        return "\n".join(
            [
                f"wrote sample data to {self.out_dir}:",
                f"  exports: {', '.join(path.name for path in self.exports)}",
                f"  roster: {self.roster.name}, mapping: {self.mapping.name},"
                f" ground truth: {self.ground_truth.name}",
                f"  {self.responses:,} responses from {self.teams} teams over"
                f" {len(self.waves)} waves ({', '.join(self.waves)}), seed {self.seed}",
                f"  planted: {self.duplicate_rows} duplicated rows, {previews} preview, test and"
                f" spam rows, {self.partial_responses:,} partial responses,"
                f" {len(self.straight_liner_response_ids)} straight-liners,"
                f" {len(self.fast_response_ids)} speeders, {len(self.small_teams)} small teams,"
                f" worsening team {self.worsening_team}, improving team {self.improving_team}",
            ]
        )


def generate_sample(
    out_dir: Path,
    *,
    responses: int,
    teams: int,
    waves: int,
    seed: int,
    registry: Registry | None = None,
) -> SampleSummary:
    """Write exports, roster, mapping and ground truth for a synthetic organization to `out_dir`.

    `responses` is the number of genuine responses over all waves, split evenly across waves;
    preview, test and spam rows and duplicated rows come on top. Existing `staff_survey_*.csv`
    files in `out_dir/exports` are replaced.
    """
    if teams < 4:
        raise ValueError("teams must be at least 4 (a worsening, an improving and a small team)")
    if waves < 2:
        raise ValueError("waves must be at least 2: the sample plants trends across waves")
    if responses < 5 * teams * waves:
        raise ValueError("responses must be at least 5 per team per wave")
    registry = registry or load_registry()
    columns = _export_columns(registry)
    items = {item.id: item for item in registry.items}
    labels = wave_labels(waves)
    # One independent random stream per step, so that changing one step leaves the others' draws
    # (and the files they shape) as they were.
    children = np.random.SeedSequence(seed).spawn(len(RANDOM_STREAMS))
    rng = {name: np.random.default_rng(c) for name, c in zip(RANDOM_STREAMS, children, strict=True)}

    team_table = _make_teams(teams, rng["teams"])
    staffing = _staffing(team_table, responses, waves, rng["staffing"])
    counts = staffing.respondents
    # The same draws again, for the improving team without its improvement: copies, so that the
    # streams the exports come from are used exactly as before.
    untreated_rng = {name: copy.deepcopy(rng[name]) for name in ("staff", "answers")}
    staff = _simulate_staff(team_table, counts, rng["staff"])
    codes = _answer_items(registry, columns, items, staff, rng["answers"])
    planted = _planted_effects(
        registry, columns, items, team_table, counts, staff, codes, untreated_rng, labels
    )
    careless = _careless_responding(columns, items, codes, rng["careless"])
    comments = _comments(staff, careless, rng["comments"])
    extras = _extra_rows(columns, items, team_table, waves, rng["extras"])
    rows = _assemble_rows(
        team_table, staff, careless, comments, extras, labels, columns, rng["metadata"]
    )
    exports, duplicated = _write_exports(
        out_dir / "exports", rows, columns, labels, rng["duplicates"]
    )

    roster = _roster(team_table, staffing, labels)
    roster_path = out_dir / "roster.csv"
    roster.to_csv(roster_path, index=False, lineterminator="\n")
    mapping_path = _write_mapping(out_dir / "mappings", columns)

    respondents = {
        label: dict(zip(team_table["team_id"], map(int, counts[wave]), strict=True))
        for wave, label in enumerate(labels)
    }
    genuine_ids = rows.response_ids[rows.status == STATUS_RESPONSE]
    rows_by_status = Counter(rows.status.tolist()) + Counter({STATUS_RESPONSE: len(duplicated)})
    summary = SampleSummary(
        out_dir=out_dir,
        exports=exports,
        roster=roster_path,
        mapping=mapping_path,
        ground_truth=out_dir / "sample.json",
        seed=seed,
        teams=teams,
        waves=labels,
        responses=responses,
        rows_by_status=dict(sorted(rows_by_status.items())),
        duplicate_rows=len(duplicated),
        partial_responses=int(careless.partial.sum()),
        respondents=respondents,
        headcount=int(roster["headcount"].sum()),
        worsening_team=_team_with_trend(team_table, 1),
        improving_team=_team_with_trend(team_table, -1),
        small_teams=tuple(team_table["team_id"][(counts < 5).any(axis=0)]),
        duplicated_response_ids=_decoded(rows.response_ids[duplicated]),
        straight_liner_response_ids=_decoded(genuine_ids[careless.straight_liner]),
        fast_response_ids=_decoded(genuine_ids[careless.fast]),
        planted_effects=planted,
    )
    _write_ground_truth(summary)
    return summary


def wave_labels(waves: int) -> tuple[str, ...]:
    """`2025-05`, `2025-09`, `2026-01`, ...: one wave every four months."""
    months = [FIRST_WAVE_MONTH - 1 + MONTHS_BETWEEN_WAVES * wave for wave in range(waves)]
    return tuple(f"{FIRST_WAVE_YEAR + month // 12}-{month % 12 + 1:02d}" for month in months)


def _decoded(values: np.ndarray) -> tuple[str, ...]:
    return tuple(value.decode("ascii") for value in values)


# --- survey layout ---------------------------------------------------------------------------


def _export_columns(registry: Registry) -> tuple[ExportColumn, ...]:
    """Question columns as Qualtrics exports them: items sharing one set of answer codes form a
    matrix question (`Q1_1`...), any other item is a question of its own (`Q4`). The codes, not
    their labels, decide: the CBI's frequency and intensity items are answered on one matrix."""
    unknown = sorted({i.id for i in registry.instruments} - set(QUESTION_ORDER))
    if unknown:
        raise ValueError(f"the sample generator has no question layout for {', '.join(unknown)}")
    columns: list[ExportColumn] = []
    number = 0
    for instrument_id in QUESTION_ORDER:
        if instrument_id not in {i.id for i in registry.instruments}:
            continue
        instrument = registry.instrument(instrument_id)
        is_matrix = (
            len(instrument.items) > 1
            and len(
                {
                    tuple((option.code, option.value) for option in item.options)
                    for item in instrument.items
                }
            )
            == 1
        )
        if is_matrix:
            number += 1
            for position, item in enumerate(instrument.items, start=1):
                text = f"{QUESTION_STEMS[instrument_id]} - {item.label}"
                columns.append(
                    ExportColumn(
                        f"Q{number}",
                        f"Q{number}_{position}",
                        f"QID{number}_{position}",
                        text,
                        item.id,
                    )
                )
            continue
        for item in instrument.items:
            number += 1
            text = QUESTION_STEMS.get(instrument_id, item.label)
            columns.append(ExportColumn(f"Q{number}", f"Q{number}", f"QID{number}", text, item.id))
    number += 1
    columns.append(
        ExportColumn(f"Q{number}", f"Q{number}", f"QID{number}_TEXT", COMMENT_QUESTION, None)
    )
    return tuple(columns)


def _codes_by_value(item: Item) -> np.ndarray:
    """The item's answer codes ordered by ascending scored value: position k -> code."""
    return np.array([o.code for o in sorted(item.options, key=lambda o: o.value)], dtype=np.int8)


# --- organization ----------------------------------------------------------------------------


def _make_teams(teams: int, rng: np.random.Generator) -> pd.DataFrame:
    """Teams with names, service lines, parent units and the tendencies that drive their answers."""
    unit_of_team = _parent_units(teams, rng)
    shares = np.array([line.share for line in SERVICE_LINES])
    lines = [SERVICE_LINES[i] for i in rng.choice(len(SERVICE_LINES), size=teams, p=shares)]
    names = _team_names(lines, unit_of_team, rng)

    # Size drives how many respond; a few teams are tiny (2-4 respondents) so that suppression
    # always has something to hide.
    size_weight = rng.lognormal(0.0, 0.4, size=teams)
    tiny = np.zeros(teams, dtype=bool)
    tiny[rng.choice(teams, size=max(1, round(0.08 * teams)), replace=False)] = True
    low_response = rng.random(teams) < 0.12
    response_rate = np.where(
        low_response,
        rng.uniform(0.4, 0.56, teams),
        np.clip(rng.normal(0.75, 0.05, teams), 0.65, 0.92),
    )
    # The worsening and the improving team are large ones, so that their trend is clear.
    candidates = np.flatnonzero(~tiny)
    candidates = candidates[np.argsort(-size_weight[candidates], kind="stable")]
    worsening, improving = rng.choice(candidates[: max(2, len(candidates) // 3)], 2, replace=False)
    trend = np.zeros(teams, dtype=np.int8)
    trend[worsening], trend[improving] = 1, -1

    def tendency(attribute: str, spread: float) -> np.ndarray:
        return np.array([getattr(line, attribute) for line in lines]) + rng.normal(0, spread, teams)

    return pd.DataFrame(
        {
            "team_id": [f"T{number:03d}" for number in range(1, teams + 1)],
            "team_name": names,
            "service_line": [line.name for line in lines],
            "parent_unit": [_parent_unit_name(unit) for unit in unit_of_team],
            "unit": unit_of_team,
            "size_weight": size_weight,
            "tiny": tiny,
            "response_rate": response_rate,
            "trend": trend,
            "email_invitations": rng.random(teams) < 0.35,
            "stimulant_share": tendency("stimulant_share", 0.35),
            "aggression": tendency("aggression", 0.35),
            "supervision": tendency("supervision", 0.4),
            "incident_rate": np.clip(tendency("incident_rate", 0.06), 0.02, 0.8),
            "debrief_rate": rng.uniform(0.35, 0.9, teams),
            "effect_secondary_trauma": rng.normal(0, 0.25, teams),
            "effect_burnout": rng.normal(0, 0.25, teams),
            "effect_compassion_satisfaction": rng.normal(0, 0.25, teams),
            "effect_resilience": rng.normal(0, 0.15, teams),
        }
    )


def _parent_units(teams: int, rng: np.random.Generator) -> np.ndarray:
    """Consecutive runs of 3-8 teams, one run per parent unit."""
    low, high = PARENT_UNIT_SIZES
    sizes: list[int] = []
    remaining = teams
    while remaining > high:
        size = int(rng.integers(low, min(high, remaining - low) + 1))
        sizes.append(size)
        remaining -= size
    sizes.append(remaining)
    return np.repeat(np.arange(len(sizes)), sizes)


def _parent_unit_name(unit: int) -> str:
    area = AREAS[unit % len(AREAS)]
    cycle = unit // len(AREAS)
    return f"Addiction services {area}" + (f" {cycle + 1}" if cycle else "")


def _team_names(
    lines: list[ServiceLine], unit_of_team: np.ndarray, rng: np.random.Generator
) -> list[str]:
    used: Counter[str] = Counter()
    numbered: Counter[str] = Counter()
    names = []
    for line, unit in zip(lines, unit_of_team, strict=True):
        template = line.name_templates[int(rng.integers(len(line.name_templates)))]
        numbered[template] += 1
        area = AREAS[unit % len(AREAS)]
        name = template.format(area=area, number=numbered[template])
        used[name] += 1
        names.append(name if used[name] == 1 else f"{name} {used[name]}")
    return names


def _team_with_trend(team_table: pd.DataFrame, direction: int) -> str:
    return str(team_table["team_id"][team_table["trend"] == direction].iloc[0])


@dataclass(frozen=True)
class Staffing:
    """Per wave (rows) and team (columns): staff on the roster, and genuine responses."""

    headcount: np.ndarray
    respondents: np.ndarray


def _staffing(
    team_table: pd.DataFrame, responses: int, waves: int, rng: np.random.Generator
) -> Staffing:
    """Headcounts that drift a little between waves, and respondents drawn from them at each
    team's response rate, summing exactly to `responses`."""
    per_wave = np.full(waves, responses // waves)
    per_wave[: responses % waves] += 1
    tiny = team_table["tiny"].to_numpy()
    rate = team_table["response_rate"].to_numpy()
    headcount = np.zeros((waves, len(team_table)), dtype=np.int64)
    respondents = np.zeros((waves, len(team_table)), dtype=np.int64)
    tiny_headcount = rng.integers(3, 7, size=tiny.sum())
    # Every team has a couple of respondents at least: an empty team is not in an export.
    floor = 2
    for wave in range(waves):
        headcount[wave, tiny] = tiny_headcount
        respondents[wave, tiny] = np.clip(rng.binomial(tiny_headcount, rate[tiny]), floor, 4)
        # People join, leave and go on leave; the other teams' headcounts are scaled so that
        # their expected respondents fill the wave.
        size = team_table["size_weight"].to_numpy()[~tiny] * rng.lognormal(0, 0.06, (~tiny).sum())
        wave_rate = np.clip(rate[~tiny] + rng.normal(0, 0.03, (~tiny).sum()), 0.2, 0.95)
        others = per_wave[wave] - respondents[wave, tiny].sum()
        staff = np.round(size * others / (size * wave_rate).sum()).astype(np.int64)
        drawn = np.maximum(floor, rng.binomial(staff, wave_rate))
        # Close the small gap between the draws and the exact total, within each team's room.
        gap = others - drawn.sum()
        if gap > 0:
            room = np.maximum(staff - drawn, 0) + 1
            drawn += rng.multinomial(gap, room / room.sum())
        elif gap < 0:
            drawn -= rng.multivariate_hypergeometric(drawn - floor, -gap)
        headcount[wave, ~tiny] = staff
        respondents[wave, ~tiny] = drawn
    return Staffing(np.maximum(headcount, respondents), respondents)


def _roster(team_table: pd.DataFrame, staffing: Staffing, labels: tuple[str, ...]) -> pd.DataFrame:
    """One row per team per wave."""
    frames = [
        team_table[["team_id", "team_name", "service_line", "parent_unit"]].assign(
            wave=label, headcount=staffing.headcount[wave]
        )
        for wave, label in enumerate(labels)
    ]
    return pd.concat(frames, ignore_index=True)


# --- respondents and answers -----------------------------------------------------------------


def _ordinal(values: np.ndarray, cuts: tuple[float, ...]) -> np.ndarray:
    return np.searchsorted(np.asarray(cuts), values).astype(np.int8)


def _standardize(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std()


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def _simulate_staff(
    team_table: pd.DataFrame, counts: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """One row per genuine response: team, wave, exposure answers (as positions in value order)
    and standardized latent traits."""
    waves, teams = counts.shape
    team = np.tile(np.arange(teams), waves).repeat(counts.ravel())
    wave = np.arange(waves).repeat(counts.sum(axis=1))
    n = len(team)

    def of_team(column: str) -> np.ndarray:
        return team_table[column].to_numpy()[team]

    # The planted trend: 0 in the first wave, full strength in the last; the worsening team loses
    # supervision and meets more aggression, the improving team the reverse.
    trend = of_team("trend") * (wave / (waves - 1))
    stimulant = of_team("stimulant_share") + rng.normal(0, 0.8, n)
    aggression = of_team("aggression") + 0.5 * trend + rng.normal(0, 0.8, n)
    supervision = of_team("supervision") - 0.9 * trend + rng.normal(0, 0.8, n)
    incident_rate = np.clip(of_team("incident_rate") * np.exp(0.3 * stimulant), 0, 0.95)
    incident = rng.random(n) < incident_rate
    debriefed = rng.random(n) < np.clip(of_team("debrief_rate") - 0.3 * trend, 0.05, 0.95)
    # Positions in value order: no, yes, not applicable. Without an incident this month, half
    # still answer about an earlier one.
    debrief = np.where(debriefed, 1, 0)
    debrief[~incident & (rng.random(n) < 0.5)] = 2

    distress = rng.normal(0, 1, n)  # what an individual brings: shared by all strain traits
    secondary_trauma = (
        0.35 * aggression
        + 0.2 * stimulant
        + 0.45 * incident
        - 0.25 * (incident & debriefed)
        - 0.2 * supervision
        + 0.65 * distress
        + of_team("effect_secondary_trauma")
        + 0.7 * trend
        + rng.normal(0, 0.55, n)
    )
    burnout = (
        0.3 * aggression
        + 0.15 * stimulant
        + 0.15 * incident
        - 0.35 * supervision
        + 0.7 * distress
        + of_team("effect_burnout")
        + 0.7 * trend
        + rng.normal(0, 0.55, n)
    )
    compassion_satisfaction = (
        -0.6 * distress
        + 0.25 * supervision
        - 0.1 * aggression
        + of_team("effect_compassion_satisfaction")
        - 0.6 * trend
        + rng.normal(0, 0.7, n)
    )
    resilience = (
        -0.5 * distress
        + 0.15 * supervision
        + of_team("effect_resilience")
        - 0.3 * trend
        + rng.normal(0, 0.75, n)
    )
    burnout = _standardize(burnout)
    intent_to_leave = rng.random(n) < _sigmoid(-1.6 + 0.9 * burnout)
    return pd.DataFrame(
        {
            "team": team,
            "wave": wave,
            "ctx_stimulant_share": _ordinal(stimulant, (-0.3, 0.4, 1.1)),
            "ctx_client_aggression": _ordinal(aggression, (-0.6, 0.2, 1.0)),
            "ctx_critical_incident": incident.astype(np.int8),
            "ctx_supervision": _ordinal(supervision, (-1.0, -0.2, 0.7)),
            "ctx_debrief": debrief.astype(np.int8),
            "ctx_intent_to_leave": intent_to_leave.astype(np.int8),
            "secondary_trauma": _standardize(secondary_trauma),
            "burnout": burnout,
            "compassion_satisfaction": _standardize(compassion_satisfaction),
            "resilience": _standardize(resilience),
        }
    )


def _answer_items(
    registry: Registry,
    columns: tuple[ExportColumn, ...],
    items: dict[str, Item],
    staff: pd.DataFrame,
    rng: np.random.Generator,
) -> np.ndarray:
    """Answer codes, one column per item column of the export (-1 = not answered)."""
    n = len(staff)
    item_columns = [column.item_id for column in columns if column.item_id is not None]
    scale_items = {item_id for scale in registry.scales for item_id in scale.item_ids}
    unmodelled = [
        *(scale.indicator for scale in registry.scales if scale.indicator not in SCALE_LATENTS),
        *(i for i in item_columns if i not in scale_items and i not in CONTEXT_ITEMS),
    ]
    if unmodelled:
        raise ValueError(f"the sample generator has no model for {', '.join(unmodelled)}")
    codes = np.empty((n, len(item_columns)), dtype=np.int8)
    position_of = {item_id: index for index, item_id in enumerate(item_columns)}

    for item_id in CONTEXT_ITEMS:
        if item_id in position_of:
            positions = staff[item_id].to_numpy()
            codes[:, position_of[item_id]] = _codes_by_value(items[item_id])[positions]

    for scale in registry.scales:
        weights, specific = SCALE_LATENTS[scale.indicator]
        latent = sum(weight * staff[trait].to_numpy() for trait, weight in weights.items())
        latent = _standardize(latent + rng.normal(0, specific, n))
        noise = ITEM_NOISE[scale.indicator]
        # Items differ in how often they are endorsed, around the scale's target.
        target = _target_position(scale, items[scale.item_ids[0]])
        offsets = rng.normal(0, 0.25, len(scale.item_ids))
        for item_id, offset in zip(scale.item_ids, offsets - offsets.mean(), strict=True):
            is_reversed = item_id in scale.reversed_item_ids
            loading = REVERSED_ITEM_LOADINGS.get(scale.indicator, 1.0) if is_reversed else 1.0
            option_count = len(items[item_id].options)
            cuts = tuple(np.arange(option_count - 1) - (option_count - 2) / 2)
            spread = float(np.hypot(loading, noise))
            intercept = _intercept_for_mean(target + offset, cuts, spread)
            answer = intercept + loading * latent + rng.normal(0, noise, n)
            positions = _ordinal(answer, cuts)
            if is_reversed:
                positions = option_count - 1 - positions
            codes[:, position_of[item_id]] = _codes_by_value(items[item_id])[positions]
    return codes


def _planted_effects(
    registry: Registry,
    columns: tuple[ExportColumn, ...],
    items: dict[str, Item],
    team_table: pd.DataFrame,
    counts: np.ndarray,
    staff: pd.DataFrame,
    codes: np.ndarray,
    untreated_rng: dict[str, np.random.Generator],
    labels: tuple[str, ...],
) -> dict[tuple[str, str], dict[str, float]]:
    """For each pair of consecutive waves, how much the improving team's mean on each scale
    changed because of its planted improvement: its scores as answered minus its scores from the
    same draws without the improvement, in the later wave less in the earlier one (the answers
    as generated, before careless responding and partial responses)."""
    untreated_table = team_table.assign(
        trend=np.where(team_table["trend"] < 0, 0, team_table["trend"])
    )
    untreated_staff = _simulate_staff(untreated_table, counts, untreated_rng["staff"])
    untreated_codes = _answer_items(
        registry, columns, items, untreated_staff, untreated_rng["answers"]
    )
    team = int(np.flatnonzero(team_table["trend"].to_numpy() < 0)[0])
    item_columns = [column.item_id for column in columns if column.item_id is not None]
    effects: dict[tuple[str, str], dict[str, float]] = {}
    gaps = []
    for wave in range(len(labels)):
        rows = ((staff["team"] == team) & (staff["wave"] == wave)).to_numpy()
        gaps.append(
            {
                scale.indicator: float(
                    _scale_scores(scale, items, item_columns, codes[rows]).mean()
                    - _scale_scores(scale, items, item_columns, untreated_codes[rows]).mean()
                )
                for scale in registry.scales
            }
        )
    for wave in range(1, len(labels)):
        effects[(labels[wave - 1], labels[wave])] = {
            indicator: round(gaps[wave][indicator] - gaps[wave - 1][indicator], 4)
            for indicator in gaps[wave]
        }
    return effects


def _scale_scores(
    scale: Scale, items: dict[str, Item], item_columns: list[str], codes: np.ndarray
) -> np.ndarray:
    """Each row's score on `scale` from complete answer codes, as the scoring model scores it:
    reversed items mirrored in their value range, a sum, a mean, or a mean rescaled to 0-100."""
    values = []
    for item_id in scale.item_ids:
        item = items[item_id]
        low, high = item.value_range
        value_of = {option.code: option.value for option in item.options}
        answered = np.vectorize(value_of.get)(codes[:, item_columns.index(item_id)])
        if item_id in scale.reversed_item_ids:
            answered = low + high - answered
        if scale.method == "0-100":
            answered = (answered - low) / (high - low) * 100
        values.append(answered)
    stacked = np.column_stack(values).astype(float)
    return stacked.sum(axis=1) if scale.method == "sum" else stacked.mean(axis=1)


def _target_position(scale: Scale, item: Item) -> float:
    """The scale's target mean expressed as a mean answer position per item (0 = lowest value)."""
    low, high = item.value_range
    per_item = TARGET_SCALE_MEANS[scale.indicator]
    if scale.method == "sum":
        per_item /= len(scale.item_ids)
    return (per_item - low) / (high - low) * (len(item.options) - 1)


def _intercept_for_mean(target: float, cuts: tuple[float, ...], spread: float) -> float:
    """Intercept at which a normal answer tendency with this spread has the target mean position."""
    target = float(np.clip(target, 0.05, len(cuts) - 0.05))

    def mean_position(intercept: float) -> float:
        return float(norm.cdf((intercept - np.asarray(cuts)) / spread).sum()) - target

    return brentq(mean_position, -20.0, 20.0)


@dataclass(frozen=True)
class CarelessResponding:
    """Per genuine response: the answers as submitted, where a partial response stopped, and the
    careless patterns."""

    codes: np.ndarray
    answered: np.ndarray  # number of question columns answered, in survey order
    partial: np.ndarray
    straight_liner: np.ndarray
    fast: np.ndarray


def _careless_responding(
    columns: tuple[ExportColumn, ...],
    items: dict[str, Item],
    codes: np.ndarray,
    rng: np.random.Generator,
) -> CarelessResponding:
    """Plant partial responses, item skips, straight-lining and speeding into the answers."""
    codes = codes.copy()
    n, item_count = codes.shape
    partial = rng.random(n) < 0.05
    # Most who abandon do so early; the stop position counts the questions answered.
    answered = np.full(n, len(columns))
    answered[partial] = np.minimum(
        rng.geometric(1 / 15, partial.sum()) - 1, len(columns) - 1
    ).astype(answered.dtype)

    finished = ~partial
    straight_liner = finished & (rng.random(n) < 0.012)
    fast = finished & ((rng.random(n) < 0.015) | (straight_liner & (rng.random(n) < 0.5)))
    # A straight-liner gives one code to every line of each matrix question (one per instrument).
    questions: dict[str, list[int]] = {}
    for index, column in enumerate(columns[:item_count]):
        questions.setdefault(column.question, []).append(index)
    for indices in questions.values():
        if len(indices) < 2:
            continue
        choices = np.array(items[str(columns[indices[0]].item_id)].codes, dtype=np.int8)
        same_code = choices[rng.integers(len(choices), size=straight_liner.sum())]
        codes[np.ix_(np.flatnonzero(straight_liner), indices)] = same_code[:, None]

    # Even finished respondents skip the odd item (Qualtrics does not force answers here).
    cells = rng.integers(codes.size, size=rng.binomial(codes.size, 0.004))
    skipping = (finished & ~straight_liner)[cells // item_count]
    codes.reshape(-1)[cells[skipping]] = -1
    stopped = np.flatnonzero(partial)
    after_stop = np.arange(item_count)[None, :] >= answered[stopped, None]
    codes[stopped] = np.where(after_stop, -1, codes[stopped])
    return CarelessResponding(codes, answered, partial, straight_liner, fast)


def _comments(
    staff: pd.DataFrame, careless: CarelessResponding, rng: np.random.Generator
) -> np.ndarray:
    """Free text for about one in ten finished respondents: one or two short sentences."""
    n = len(staff)
    writers = np.flatnonzero(~careless.partial & ~careless.fast & (rng.random(n) < 0.1))
    strained = staff["burnout"].to_numpy()[writers] > 0.3
    first, second = rng.random((2, len(writers)))
    two_sentences = rng.random(len(writers)) < 0.3
    comments = np.full(n, "", dtype=object)
    for row, is_strained, pick, other, both in zip(
        writers, strained, first, second, two_sentences, strict=True
    ):
        bank = STRAINED_COMMENTS if is_strained else SUPPORTED_COMMENTS
        one = int(pick * len(bank))
        # The second sentence is any other one of the bank.
        two = (one + 1 + int(other * (len(bank) - 1))) % len(bank)
        comments[row] = f"{bank[one]} {bank[two]}" if both else bank[one]
    return comments


# --- rows that are not genuine responses -----------------------------------------------------


@dataclass(frozen=True)
class ExtraRows:
    """Preview, test and spam rows of every wave, with random answers."""

    wave: np.ndarray
    status: np.ndarray
    team: np.ndarray  # -1: previews carry no team
    codes: np.ndarray
    comments: np.ndarray


def _extra_rows(
    columns: tuple[ExportColumn, ...],
    items: dict[str, Item],
    team_table: pd.DataFrame,
    waves: int,
    rng: np.random.Generator,
) -> ExtraRows:
    statuses = [STATUS_PREVIEW, STATUS_TEST, STATUS_SPAM]
    per_wave = rng.integers(1, 4, size=(waves, len(statuses)))
    wave = np.repeat(np.arange(waves), per_wave.sum(axis=1))
    status = np.concatenate([np.repeat(statuses, row) for row in per_wave])
    n = len(status)
    team = rng.integers(len(team_table), size=n)
    team[status == STATUS_PREVIEW] = -1
    item_columns = [column.item_id for column in columns if column.item_id is not None]
    codes = np.stack(
        [rng.choice(np.array(items[item_id].codes), size=n) for item_id in item_columns], axis=1
    ).astype(np.int8)
    comments = np.full(n, "", dtype=object)
    spam = np.flatnonzero(status == STATUS_SPAM)
    comments[spam] = [SPAM_COMMENTS[i] for i in rng.integers(len(SPAM_COMMENTS), size=len(spam))]
    return ExtraRows(wave, status, team, codes, comments)


# --- metadata and files ----------------------------------------------------------------------
#
# Every export cell is a byte string (numpy "S" arrays), mostly picked by index from small tables of
# pre-encoded values, and numpy lays out the CSV lines: a million rows are written in seconds.


@dataclass(frozen=True)
class ExportRows:
    """Every export row of every wave, genuine responses first, then the extra rows."""

    cells: dict[str, np.ndarray]  # export column -> CSV-ready bytes per row, quoted where needed
    wave: np.ndarray
    recorded: np.ndarray  # seconds since the wave's fieldwork began: the export's row order
    status: np.ndarray
    finished: np.ndarray
    response_ids: np.ndarray


def _assemble_rows(
    team_table: pd.DataFrame,
    staff: pd.DataFrame,
    careless: CarelessResponding,
    comments: np.ndarray,
    extras: ExtraRows,
    labels: tuple[str, ...],
    columns: tuple[ExportColumn, ...],
    rng: np.random.Generator,
) -> ExportRows:
    """Answers and comments of all rows, with the Qualtrics metadata that goes with them."""
    wave = np.concatenate([staff["wave"].to_numpy(), extras.wave])
    team = np.concatenate([staff["team"].to_numpy(), extras.team])
    status = np.concatenate([np.full(len(staff), STATUS_RESPONSE), extras.status])
    n = len(status)
    question_count = len(columns)
    answered = np.concatenate([careless.answered, np.full(len(extras.status), question_count)])
    finished = answered == question_count
    all_codes = np.concatenate([careless.codes, extras.codes])
    all_comments = np.concatenate([comments, extras.comments])

    # Seconds per question: a few minutes for the survey, the odd long pause, and the speeders
    # (and spam bots) under two seconds per item; test responses are generated instantly.
    pace = rng.lognormal(np.log(5.5), 0.35, n)
    fast = np.concatenate([careless.fast, extras.status == STATUS_SPAM])
    pace[fast] = rng.uniform(0.4, 1.8, fast.sum())
    duration = np.maximum(1, np.round(pace * np.maximum(answered, 1))).astype(np.int64)
    paused = ~fast & (rng.random(n) < 0.03)
    duration[paused] += rng.integers(600, 4 * 3600, paused.sum())
    duration[status == STATUS_TEST] = rng.integers(0, 3, (status == STATUS_TEST).sum())

    # Invitations on day 0 with reminders on days 7 and 14; people answer in working hours, mostly,
    # and the odd one late in the evening.
    reminder = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
    day = 7 * reminder + np.minimum(rng.exponential(1.2, n), 6.9).astype(np.int64)
    hour = rng.normal(13.5, 3.0, n)
    off_hours = (hour < 6.5) | (hour > 23.5)
    hour[off_hours] = rng.uniform(6.5, 23.5, off_hours.sum())
    start = day * 86400 + (hour * 3600).astype(np.int64)
    start = np.minimum(start, FIELDWORK_SECONDS - 1 - duration)
    end = start + duration
    recorded = np.where(
        finished, end, np.minimum(end + PARTIAL_RECORDED_AFTER_SECONDS, FIELDWORK_SECONDS - 1)
    )
    wave_start = np.array([np.datetime64(f"{label}-01T00:00:00", "s") for label in labels])[wave]

    channels = ("anonymous", "email", "preview", "test")
    channel = team_table["email_invitations"].to_numpy()[np.maximum(team, 0)].astype(np.int8)
    channel[status == STATUS_PREVIEW] = channels.index("preview")
    channel[status == STATUS_TEST] = channels.index("test")
    channel[status == STATUS_SPAM] = channels.index("anonymous")
    response_ids = _response_ids(n, rng)

    cells = {
        "StartDate": _timestamps(wave_start + start),
        "EndDate": _timestamps(wave_start + end),
        "Status": _decimal(status),
        **_network(team_table, team, status, rng),
        "Progress": _decimal(np.where(finished, 100, answered * 100 // question_count)),
        "Duration (in seconds)": _decimal(duration),
        "Finished": _decimal(finished.astype(np.int64)),
        "RecordedDate": _timestamps(wave_start + recorded),
        "ResponseId": response_ids,
        **_recipients(channel == channels.index("email"), rng),
        "DistributionChannel": _encode(channels)[channel],
        "UserLanguage": np.where(rng.random(n) < 0.06, b"ES", b"EN"),
    }
    answer_cells = _encode(["", *(str(code) for code in range(10))])
    comment_index, distinct_comments = pd.factorize(all_comments)
    for index, column in enumerate(columns):
        if column.item_id is None:
            cells[column.tag] = _encode(distinct_comments)[comment_index]
        else:
            cells[column.tag] = answer_cells[all_codes[:, index] + 1]
    cells["team"] = _encode(["", *team_table["team_id"]])[team + 1]
    cells["wave"] = _encode(labels)[wave]
    return ExportRows(cells, wave, recorded, status, finished, response_ids)


def _csv_field(text: str) -> str:
    if any(character in text for character in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _encode(values: Iterable[str]) -> np.ndarray:
    """CSV-ready UTF-8 byte strings, for tables that cells are picked from by index."""
    return np.array([_csv_field(value).encode("utf-8") for value in values], dtype=bytes)


def _decimal(values: np.ndarray) -> np.ndarray:
    """Non-negative integers as decimal byte strings."""
    return _encode([str(number) for number in range(int(values.max()) + 1)])[values]


def _timestamps(values: np.ndarray) -> np.ndarray:
    """`YYYY-MM-DD HH:MM:SS` byte strings."""
    text = np.datetime_as_string(values, unit="s").astype("S19")
    characters = text.view(np.uint8).reshape(len(text), 19)
    characters[:, 10] = ord(" ")
    return text


def _response_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """`R_` and 15 letters or digits, unique across all files."""
    alphabet = np.frombuffer(
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
    )
    characters = np.empty((n, 17), dtype=np.uint8)
    characters[:, :2] = np.frombuffer(b"R_", dtype=np.uint8)
    repeated = np.arange(n)
    while len(repeated):
        characters[repeated, 2:] = alphabet[rng.integers(len(alphabet), size=(len(repeated), 15))]
        ids = characters.view("S17").ravel()
        repeated = np.flatnonzero(pd.Series(ids).duplicated().to_numpy())
    return ids


def _network(
    team_table: pd.DataFrame, team: np.ndarray, status: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """IP addresses and geo-IP coordinates: each parent unit's office shares two public addresses
    (so many staff share an IP), the rest answer from home or a phone."""
    n = len(team)
    units = int(team_table["unit"].max()) + 1
    office_ips = _ip_addresses(2 * units, rng).reshape(units, 2)
    home_ips = _ip_addresses(max(1000, n // 4), rng)
    unit = team_table["unit"].to_numpy()[np.maximum(team, 0)]
    at_office = (rng.random(n) < 0.65) & (status != STATUS_SPAM)
    ip = np.where(
        at_office,
        office_ips[unit, rng.integers(2, size=n)],
        home_ips[rng.integers(len(home_ips), size=n)],
    )

    # Geo-IP resolves to a handful of points around the region, not to the building.
    spots = 20
    latitude = _encode([f"{value:.4f}" for value in 45.52 + rng.normal(0, 0.15, spots)])
    longitude = _encode([f"{value:.4f}" for value in -122.68 + rng.normal(0, 0.2, spots)])
    office_spot = rng.integers(spots, size=units)
    spot = np.where(at_office, office_spot[unit], rng.integers(spots, size=n))
    cells = {
        "IPAddress": ip,
        "LocationLatitude": latitude[spot],
        "LocationLongitude": longitude[spot],
    }
    unlocated = (status == STATUS_TEST) | (rng.random(n) < 0.03)
    for values in cells.values():
        values[unlocated] = b""
    return cells


def _ip_addresses(count: int, rng: np.random.Generator) -> np.ndarray:
    # First octets of large public ISP allocations: no private or reserved ranges.
    first = rng.choice([24, 50, 67, 68, 71, 73, 75, 76, 98, 99, 107, 108, 173, 174], size=count)
    rest = rng.integers(0, 256, size=(count, 3))
    rest[:, 2] = np.clip(rest[:, 2], 1, 254)
    return _encode([f"{a}.{b}.{c}.{d}" for a, (b, c, d) in zip(first, rest.tolist(), strict=True)])


def _recipients(invited_by_email: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Names, e-mail and staff number for personal-link invitations; blank for anonymous links."""
    n = len(invited_by_email)
    first = rng.integers(len(FIRST_NAMES), size=n)
    last = rng.integers(len(LAST_NAMES), size=n)
    emails = [
        f"{_email_part(f)}.{_email_part(s)}@{EMAIL_DOMAIN}" for f in FIRST_NAMES for s in LAST_NAMES
    ]
    staff_number = np.empty((n, 7), dtype=np.uint8)
    staff_number[:, 0] = ord("E")
    staff_number[:, 1:] = rng.integers(ord("0"), ord("9") + 1, size=(n, 6))
    cells = {
        "RecipientLastName": _encode(LAST_NAMES)[last],
        "RecipientFirstName": _encode(FIRST_NAMES)[first],
        "RecipientEmail": _encode(emails)[first * len(LAST_NAMES) + last],
        "ExternalReference": staff_number.view("S7").ravel(),
    }
    for values in cells.values():
        values[~invited_by_email] = b""
    return cells


def _email_part(name: str) -> str:
    ascii_only = name.translate(str.maketrans("éüáöíó", "euaoio")).replace("'", "")
    return ascii_only.lower()


def _csv_lines(columns: list[np.ndarray]) -> bytes:
    """CSV lines from byte-string columns that are already quoted where needed.

    The columns are laid side by side in one byte matrix, each padded with NUL bytes to its widest
    cell, separated by commas and ended by a newline; dropping the NULs leaves the lines.
    """
    rows = len(columns[0])
    comma = np.full((rows, 1), ord(","), dtype=np.uint8)
    blocks = [
        part for column in columns for part in (column.view(np.uint8).reshape(rows, -1), comma)
    ]
    blocks[-1] = np.full((rows, 1), ord("\n"), dtype=np.uint8)
    matrix = np.hstack(blocks)
    return matrix[matrix != 0].tobytes()


def _write_exports(
    directory: Path,
    rows: ExportRows,
    columns: tuple[ExportColumn, ...],
    labels: tuple[str, ...],
    rng: np.random.Generator,
) -> tuple[tuple[Path, ...], np.ndarray]:
    """One export per wave in recorded order, with a few genuine rows repeated at random places
    (an export glitch). Returns the paths and the rows that were repeated."""
    directory.mkdir(parents=True, exist_ok=True)
    # A wave left over from an earlier, longer sample would be ingested as part of this one.
    for stale in directory.glob(EXPORT_GLOB):
        stale.unlink()
    column_ids = [
        *(name for name, _, _ in METADATA_COLUMNS),
        *(c.tag for c in columns),
        *EMBEDDED_DATA,
    ]
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerows(
        [
            column_ids,
            [
                *(text for _, text, _ in METADATA_COLUMNS),
                *(c.text for c in columns),
                *EMBEDDED_DATA,
            ],
            [
                json.dumps({"ImportId": import_id}, separators=(",", ":"))
                for import_id in (
                    *(import_id for _, _, import_id in METADATA_COLUMNS),
                    *(c.import_id for c in columns),
                    *EMBEDDED_DATA,
                )
            ],
        ]
    )
    finished_genuine = (rows.status == STATUS_RESPONSE) & rows.finished
    paths, repeated = [], []
    for wave, label in enumerate(labels):
        in_wave = np.flatnonzero(rows.wave == wave)
        order = in_wave[np.argsort(rows.recorded[in_wave], kind="stable")]
        copies = order[
            rng.choice(
                np.flatnonzero(finished_genuine[order]), size=int(rng.integers(1, 4)), replace=False
            )
        ]
        order = np.insert(order, rng.integers(len(order) + 1, size=len(copies)), copies)
        repeated.append(copies)
        path = directory / f"staff_survey_{label}.csv"
        with path.open("wb") as handle:
            handle.write(header.getvalue().encode("utf-8"))
            # In slices, so that the byte matrix stays small whatever the sample size.
            for first in range(0, len(order), 100_000):
                chunk = order[first : first + 100_000]
                handle.write(_csv_lines([rows.cells[name][chunk] for name in column_ids]))
        paths.append(path)
    return tuple(paths), np.concatenate(repeated)


def _write_mapping(directory: Path, columns: tuple[ExportColumn, ...]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Qualtrics staff survey: export columns -> canonical item ids. Written by",
        "# resilience.sample; the free-text question is deliberately not mapped.",
        f'source = "{SOURCE}"',
        f'match = "{EXPORT_GLOB}"',
        "",
        "[columns]",
        *(f'"{c.tag}" = "{c.item_id}"' for c in columns if c.item_id is not None),
        *(f'"{name}" = "{name}"' for name in EMBEDDED_DATA),
    ]
    path = directory / f"{SOURCE}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_ground_truth(summary: SampleSummary) -> None:
    truth = {
        "seed": summary.seed,
        "teams": summary.teams,
        "waves": list(summary.waves),
        "responses": summary.responses,
        "rows_by_status": {str(status): n for status, n in summary.rows_by_status.items()},
        "duplicate_rows": summary.duplicate_rows,
        "partial_responses": summary.partial_responses,
        "headcount": summary.headcount,
        "worsening_team": summary.worsening_team,
        "improving_team": summary.improving_team,
        "small_teams": list(summary.small_teams),
        "respondents": summary.respondents,
        "duplicated_response_ids": list(summary.duplicated_response_ids),
        "straight_liner_response_ids": list(summary.straight_liner_response_ids),
        "fast_response_ids": list(summary.fast_response_ids),
        "planted_effects": [
            {"team": summary.improving_team, "wave_before": before, "wave_after": after}
            | {"effects": effects}
            for (before, after), effects in summary.planted_effects.items()
        ],
    }
    summary.ground_truth.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
