"""One typed settings object: defaults in `resilience.toml`, overrides from the environment."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "resilience.toml"


class PathSettings(BaseModel):
    exports: Path = Path("data/sample/exports")
    roster: Path = Path("data/sample/roster.csv")
    mappings: Path = Path("data/sample/mappings")
    out: Path = Path("build")
    state: Path = Path(".state")


class PrivacySettings(BaseModel):
    min_group_size: int = Field(default=5, ge=3)
    salt: SecretStr | None = None


class ScheduleSettings(BaseModel):
    cron: str = "0 2 * * *"
    timezone: str = "UTC"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RESILIENCE_", env_nested_delimiter="__")

    paths: PathSettings = PathSettings()
    privacy: PrivacySettings = PrivacySettings()
    schedule: ScheduleSettings = ScheduleSettings()

    @field_validator("paths")
    @classmethod
    def _absolute_paths(cls, paths: PathSettings) -> PathSettings:
        return paths.model_copy(
            update={name: value.resolve() for name, value in paths.model_dump().items()}
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
    def archive_dir(self) -> Path:
        return self.paths.out / "archive"

    @property
    def prefect_home(self) -> Path:
        return self.paths.state / "prefect"

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
    if config is not None and not config_path.exists():
        raise FileNotFoundError(f"configuration file not found: {config_path}")
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
