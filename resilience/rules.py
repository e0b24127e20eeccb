"""The names of the validation rules and what each asks, as the quarantine and the validation
report name them. Kept apart from `resilience.validation` so that reading or reporting them does
not import Great Expectations, which takes seconds to import."""

from __future__ import annotations

RULE_REQUIRED_COLUMN = "required_column_present"
RULE_NOT_NULL = "not_null"
RULE_ANSWER_CODE = "answer_in_allowed_codes"
RULE_TEAM_IN_ROSTER = "team_in_roster"
RULE_IN_WAVE_WINDOW = "recorded_in_wave_window"
RULE_NO_WAVE = "no_wave"
RULE_PROGRESS_RANGE = "progress_between_0_and_100"
RULE_DURATION_RANGE = "duration_not_negative"
RULE_ONE_RESPONSE_PER_ID = "one_response_per_id_in_file"
# Whole-file entries in the quarantine (no row number): the file could not be read, or too many of
# its rows failed and it is held back.
RULE_FILE_UNREADABLE = "file_unreadable"
RULE_FILE_HELD_BACK = "file_held_back"

RULE_KEY_UNIQUE = "key_unique"
RULE_KEY_NOT_NULL = "key_not_null"
RULE_SHARE_RANGE = "share_between_0_and_1"
RULE_MIN_GROUP_SIZE = "n_at_least_min_group_size"
RULE_SUPPRESSED_EMPTY = "suppressed_row_has_no_numbers"

# The rules every batch row is checked against, in the order the report lists them.
BATCH_RULES = (
    RULE_REQUIRED_COLUMN,
    RULE_NOT_NULL,
    RULE_ANSWER_CODE,
    RULE_TEAM_IN_ROSTER,
    RULE_ONE_RESPONSE_PER_ID,
    RULE_IN_WAVE_WINDOW,
    RULE_NO_WAVE,
    RULE_PROGRESS_RANGE,
    RULE_DURATION_RANGE,
)
# What each rule asks, for the people who read the validation report.
RULE_DESCRIPTIONS = {
    RULE_REQUIRED_COLUMN: "the export has the column",
    RULE_NOT_NULL: "the response has a re-keyed id, a team and a wave",
    RULE_ANSWER_CODE: "the answer is one of the item's answer codes or labels",
    RULE_TEAM_IN_ROSTER: "the team is on the roster",
    RULE_IN_WAVE_WINDOW: "the response was recorded within its wave's field dates",
    RULE_NO_WAVE: "the recorded date falls in a fieldwork window (the value is the date)",
    RULE_PROGRESS_RANGE: "progress is between 0 and 100",
    RULE_DURATION_RANGE: "the duration is not negative",
    RULE_ONE_RESPONSE_PER_ID: (
        "one response per id in a file: rows repeated exactly count once, two different rows"
        " under one id are both set aside"
    ),
    RULE_FILE_UNREADABLE: "the file could be read and its columns recognised",
    RULE_FILE_HELD_BACK: "no more than the allowed share of the file's rows failed",
    RULE_KEY_UNIQUE: "one row per key the table states",
    RULE_KEY_NOT_NULL: "every key column has a value",
    RULE_SHARE_RANGE: "every share lies between 0 and 1",
    RULE_MIN_GROUP_SIZE: "no number describes fewer respondents than the minimum group size",
    RULE_SUPPRESSED_EMPTY: "a suppressed row carries no number",
}


# What to change for a file that needs attention, by what its reason says (first match wins).
ATTENTION_FIXES: tuple[tuple[str, str], ...] = (
    ("no team column", "map its team column: resilience map FILE --out mappings/NAME.toml"),
    (
        "no column maps to an instrument item",
        "draft its mapping: resilience map FILE --out mappings/NAME.toml",
    ),
    ("wave_from_file", "make the mapping's wave_from_file match the file name, or give a 'wave'"),
    (
        "no wave",
        "list the fieldwork windows in the waves file (wave,opens,closes) or give the mapping "
        "a 'wave'",
    ),
    ("no recorded date", "give the mapping a 'wave', or name its date column as 'recorded_date'"),
    ("mapping ", "correct the mapping file the reason names"),
    (
        "failed validation",
        "see its quarantined cells in the validation report and fix the mapping, roster "
        "aliases or waves file they point to",
    ),
)
DEFAULT_ATTENTION_FIX = (
    "re-export the file from the survey tool (CSV or XLSX, UTF-8), as the reason says"
)
ATTENTION_STATUSES = ("quarantined", "held_back")


def attention_fix(reason: str | None) -> str:
    """The one-line fix for a file that is held back or cannot be loaded."""
    text = reason or ""
    return next((fix for clue, fix in ATTENTION_FIXES if clue in text), DEFAULT_ATTENTION_FIX)
