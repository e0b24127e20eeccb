"""One typed settings object: defaults in `resilience.toml`, overrides from the environment."""

from __future__ import annotations

import contextlib
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
    waves: Path | None = None


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


# What a run does with a response seen again with other answers, or missing from a newer export
# of the same survey (ingest.resolve_survey_versions): "newest" applies the change (the newest
# export wins); "keep-first" keeps the version loaded first and warns.
ReexportPolicy = Literal["newest", "keep-first"]


class WaveWindow(BaseModel):
    """The days a survey wave was in the field: responses recorded outside them are quarantined."""

    start: date
    end: date

    def holds(self, day: date) -> bool:
        return self.start <= day <= self.end

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
    reexports: ReexportPolicy = "newest"


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


class OidcSettings(BaseModel):
    """Single sign-on with an OpenID Connect provider (authorization code flow with PKCE). Unset
    `issuer`: local accounts only."""

    issuer: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    # Where the provider sends people back: <public address>/auth/callback. Unset: the address
    # the request came to (right behind a reverse proxy only with --proxy-headers).
    redirect_url: str | None = None
    scopes: list[str] = ["openid", "profile", "email"]
    # The claim that names the person in the audit log and the access file.
    username_claim: str = "email"
    # Access from the provider's groups claim (values "leader", "manager:T001", "unit_lead:North",
    # after `group_prefix`), or, when `access_file` is set, from that TOML file by username.
    groups_claim: str = "groups"
    group_prefix: str = ""
    access_file: Path | None = None

    @model_validator(mode="after")
    def _client_with_issuer(self) -> OidcSettings:
        if self.issuer and not self.client_id:
            raise ValueError("serve.oidc.issuer is set without serve.oidc.client_id")
        if "openid" not in self.scopes:
            raise ValueError("serve.oidc.scopes must include openid")
        return self


class ServeSettings(BaseModel):
    """`resilience serve`: sessions, sign-in limits and the audit log's retention."""

    session_minutes: int = Field(default=480, ge=1)
    # Wrong passwords in a row before an account is locked, and for how long.
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    # Failed sign-ins from one address, any account, before that address is locked as long.
    max_failed_logins_per_address: int = Field(default=20, ge=1)
    audit_retention_days: int = Field(default=400, ge=1)
    # Signs session cookies and CSRF tokens; unset, one is generated once in the state folder.
    session_secret: SecretStr | None = None
    oidc: OidcSettings = OidcSettings()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RESILIENCE_", env_nested_delimiter="__")

    paths: PathSettings = PathSettings()
    privacy: PrivacySettings = PrivacySettings()
    schedule: ScheduleSettings = ScheduleSettings()
    quality: QualitySettings = QualitySettings()
    indicators: IndicatorSettings = IndicatorSettings()
    early_warnings: EarlyWarningSettings = EarlyWarningSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    serve: ServeSettings = ServeSettings()

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
    def serve_state_dir(self) -> Path:
        """Accounts, sessions and the audit journal of `resilience serve`: private, never in a
        release."""
        return self.paths.state / "serve"

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

    @property
    def salt_file(self) -> Path:
        """Where the generated salt is kept when none is configured."""
        return self.paths.state / "salt"

    def configured_salt(self) -> str | None:
        """The configured salt, else the one kept in the state folder; None when there is none
        (a new one is made only by `response_key_salt`)."""
        if self.privacy.salt is not None:
            return self.privacy.salt.get_secret_value()
        return self.salt_file.read_text().strip() if self.salt_file.exists() else None

    def response_key_salt(self) -> str:
        """The configured salt, or one generated once and kept private in the state folder."""
        if self.privacy.salt is None and not self.salt_file.exists():
            write_private(self.salt_file, secrets.token_hex(32))
        salt = self.configured_salt()
        assert salt is not None  # configured, or just written
        return salt

    def session_secret(self) -> str:
        """The configured session secret, or one generated once and kept in the state folder."""
        if self.serve.session_secret is not None:
            return self.serve.session_secret.get_secret_value()
        path = self.serve_state_dir / "session-secret"
        if not path.exists():
            with contextlib.suppress(FileExistsError):  # made by another process meanwhile
                write_private(path, secrets.token_hex(32))
        return path.read_text().strip()


def write_private(path: Path, text: str) -> None:
    """Create `path` readable by its owner only (mode 600), holding `text`; it must not exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def _resolve_relative(section: dict, base: Path) -> dict:
    return {key: str(base / value) for key, value in section.items()}


def load_settings(
    config: Path | str | None = None,
    *,
    exports: Path | str | None = None,
    roster: Path | str | None = None,
    out: Path | str | None = None,
    mappings: Path | str | None = None,
    waves: Path | str | None = None,
    actions: Path | str | None = None,
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
    oidc = file_values.get("serve", {}).get("oidc", {})
    if "access_file" in oidc:
        oidc["access_file"] = str(config_path.parent / oidc["access_file"])
    arguments = {
        "exports": exports,
        "roster": roster,
        "out": out,
        "mappings": mappings,
        "waves": waves,
        "actions": actions,
    }
    merged: dict = {}
    for source in (
        file_values,
        Settings().model_dump(exclude_unset=True),
        {"paths": {k: str(Path(v).resolve()) for k, v in arguments.items() if v is not None}},
    ):
        _merge(merged, source)
    return Settings(**merged)


def _merge(into: dict, values: dict) -> None:
    """Merge `values` into `into`, table by table: RESILIENCE_SERVE__OIDC__CLIENT_SECRET replaces
    the one value, not the file's whole [serve.oidc] table."""
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, dict) else value


def require_run_inputs(settings: Settings) -> None:
    """Raise UsageError naming the first input of a run that is missing: the exports folder, the
    roster, the mappings folder, or the action log or waves file (when one is set)."""
    paths = settings.paths
    required = [
        ("exports folder (paths.exports, --exports)", paths.exports, Path.is_dir),
        ("roster (paths.roster, --roster)", paths.roster, Path.is_file),
        ("mappings folder (paths.mappings, --mappings)", paths.mappings, Path.is_dir),
    ]
    if paths.actions is not None:
        required.append(("action log (paths.actions, --actions)", paths.actions, Path.is_file))
    if paths.waves is not None:
        required.append(("waves file (paths.waves, --waves)", paths.waves, Path.is_file))
    for what, path, exists in required:
        if not exists(path):
            raise UsageError(f"{what} not found: {display_path(path)}")
