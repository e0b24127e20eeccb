"""One typed settings object: defaults in `resilience.toml`, overrides from the environment."""

from __future__ import annotations

import os
import secrets
import tomllib
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "resilience.toml"


class UsageError(ValueError):
    """The command line or the configuration names something that is not there: no run starts,
    nothing is recorded, and trying again unchanged cannot help."""


def display_path(path: Path | str) -> str:
    """`path` as the user would type it here: relative to the working folder when inside it."""
    # Not resolved: a link such as build/analytics.duckdb is shown as the link.
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class PathSettings(BaseModel):
    exports: Path = Path("data/sample/exports")
    roster: Path = Path("data/sample/roster.csv")
    mappings: Path = Path("data/sample/mappings")
    out: Path = Path("build")
    state: Path = Path(".state")
    actions: Path | None = None


class PrivacySettings(BaseModel):
    min_group_size: int = Field(default=5, ge=3)
    salt: SecretStr | None = None


class ScheduleSettings(BaseModel):
    deployment: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]+$")
    cron: str = "0 2 * * *"
    timezone: str = "UTC"
    settle_seconds: int = Field(default=10, ge=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {timezone!r} (use an IANA name)") from error
        return timezone


# The careless-responding flags of `int_quality__response_flags`, by the names that `exclude` uses.
CarelessFlag = Literal[
    "too_fast", "straight_lined", "long_identical_run", "inconsistent_reversed", "duplicate_answers"
]


class WaveWindow(BaseModel):
    """The days a survey wave was in the field: responses recorded outside them are quarantined."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ends_after_start(self) -> WaveWindow:
        if self.end < self.start:
            raise ValueError(f"a wave window must not end ({self.end}) before it starts")
        return self


class QualitySettings(BaseModel):
    max_failed_share: float = Field(default=0.2, ge=0, le=1)
    waves: dict[str, WaveWindow] = {}
    min_seconds_per_item: float = Field(default=2.0, ge=0)
    long_run_items: int = Field(default=10, ge=2)
    straight_line_min_items: int = Field(default=10, ge=2)
    duplicate_min_answers: int = Field(default=10, ge=1)
    exclude: list[CarelessFlag] = ["too_fast", "straight_lined"]


EarlyWarningRule = Literal[
    "worsened", "crossed_band", "far_worse_than_organization", "high_band_share"
]


class IndicatorSettings(BaseModel):
    compassion_fatigue: list[str] = ["proqol_bo", "proqol_sts", "cbi_client"]
    significance_level: float = Field(default=0.05, gt=0, lt=1)
    reliability_warning_below: float = 0.6
    low_response_rate: float = Field(default=0.6, ge=0, le=1)


class EarlyWarningSettings(BaseModel):
    # The mean indicators watched; empty: every scale.
    indicators: list[str] = []
    rules: list[EarlyWarningRule] = [
        "worsened",
        "crossed_band",
        "far_worse_than_organization",
        "high_band_share",
    ]
    far_worse_than_organization_sd: float = Field(default=0.5, gt=0)
    high_band_share_above: float = Field(default=0.25, gt=0, lt=1)


class WarehouseSettings(BaseModel):
    # How much memory DuckDB may use before it spills to disk beside the warehouse, such as
    # "1.5GB"; unset, DuckDB's own default (80% of the machine's memory).
    memory_limit: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")

    def duckdb_config(self) -> dict[str, str]:
        return {"memory_limit": self.memory_limit} if self.memory_limit else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RESILIENCE_", env_nested_delimiter="__")

    paths: PathSettings = PathSettings()
    privacy: PrivacySettings = PrivacySettings()
    schedule: ScheduleSettings = ScheduleSettings()
    quality: QualitySettings = QualitySettings()
    indicators: IndicatorSettings = IndicatorSettings()
    early_warnings: EarlyWarningSettings = EarlyWarningSettings()
    warehouse: WarehouseSettings = WarehouseSettings()

    @field_validator("paths")
    @classmethod
    def _absolute_paths(cls, paths: PathSettings) -> PathSettings:
        return paths.model_copy(
            update={
                name: value.resolve()
                for name, value in paths.model_dump().items()
                if value is not None
            }
        )

    @property
    def warehouse_path(self) -> Path:
        return self.paths.out / "warehouse.duckdb"

    @property
    def analytics_path(self) -> Path:
        return self.paths.out / "analytics.duckdb"

    @property
    def dashboards_dir(self) -> Path:
        return self.paths.out / "dashboards"

    @property
    def tables_dir(self) -> Path:
        """The published tables as Parquet and CSV files, one folder per format."""
        return self.paths.out / "tables"

    @property
    def releases_dir(self) -> Path:
        """One folder per published run; `current` points at the one readers see."""
        return self.paths.out / "releases"

    @property
    def current_release(self) -> Path:
        return self.paths.out / "current"

    @property
    def run_lock_path(self) -> Path:
        return self.paths.out / "run.lock"

    @property
    def archive_dir(self) -> Path:
        return self.paths.out / "archive"

    @property
    def prefect_home(self) -> Path:
        return self.paths.state / "prefect"

    def indicator_variables(self) -> dict[str, object]:
        """The analysis settings, by the DuckDB variable names the SQL models read them from."""
        return {
            "compassion_fatigue_indicators": self.indicators.compassion_fatigue,
            "significance_level": self.indicators.significance_level,
            "reliability_warning_below": self.indicators.reliability_warning_below,
            "low_response_rate": self.indicators.low_response_rate,
            "early_warning_rules": self.early_warnings.rules,
            "far_worse_than_organization_sd": self.early_warnings.far_worse_than_organization_sd,
            "early_warning_indicators": self.early_warnings.indicators,
            "high_band_share_above": self.early_warnings.high_band_share_above,
        }

    def quality_variables(self) -> dict[str, object]:
        """The careless-responding settings, by the DuckDB variable names that
        `int_quality__response_flags` reads them from."""
        return {
            "min_seconds_per_item": self.quality.min_seconds_per_item,
            "long_run_items": self.quality.long_run_items,
            "straight_line_min_items": self.quality.straight_line_min_items,
            "duplicate_min_answers": self.quality.duplicate_min_answers,
            "careless_exclusions": list(self.quality.exclude),
        }

    def response_key_salt(self) -> str:
        """The configured salt, or one generated once and kept private in the state folder."""
        if self.privacy.salt is not None:
            return self.privacy.salt.get_secret_value()
        salt_file = self.paths.state / "salt"
        if not salt_file.exists():
            salt_file.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(salt_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
        return salt_file.read_text().strip()


def _resolve_relative(section: dict, base: Path) -> dict:
    return {key: str(base / value) for key, value in section.items()}


def load_settings(
    config: Path | str | None = None,
    *,
    exports: Path | str | None = None,
    roster: Path | str | None = None,
    out: Path | str | None = None,
) -> Settings:
    """Read `config` (default: the project's resilience.toml), then the environment, then the
    path arguments given on the command line. Relative paths in the file are taken relative to
    the file's folder; relative paths given here, relative to the working directory."""
    config_path = Path(config or DEFAULT_CONFIG).resolve()
    if config is not None and not config_path.is_file():
        raise UsageError(f"configuration file not found: {display_path(config_path)}")
    file_values = (
        tomllib.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    )
    if "paths" in file_values:
        file_values["paths"] = _resolve_relative(file_values["paths"], config_path.parent)
    arguments = {"exports": exports, "roster": roster, "out": out}
    merged: dict = {}
    for source in (
        file_values,
        Settings().model_dump(exclude_unset=True),
        {"paths": {k: str(Path(v).resolve()) for k, v in arguments.items() if v is not None}},
    ):
        for section, values in source.items():
            merged.setdefault(section, {}).update(values or {})
    return Settings(**merged)


def require_run_inputs(settings: Settings) -> None:
    """Raise UsageError naming the first input of a run that is missing: the exports folder, the
    roster, the mappings folder or the action log (when one is set)."""
    paths = settings.paths
    required = [
        ("exports folder (paths.exports, --exports)", paths.exports, Path.is_dir),
        ("roster (paths.roster, --roster)", paths.roster, Path.is_file),
        ("mappings folder (paths.mappings)", paths.mappings, Path.is_dir),
    ]
    if paths.actions is not None:
        required.append(("action log (paths.actions)", paths.actions, Path.is_file))
    for what, path, exists in required:
        if not exists(path):
            raise UsageError(f"{what} not found: {display_path(path)}")
