"""Who may open what in a published release, deny by default.

A person holds one or more roles, each with its scope:

- leader: every page of the release;
- unit lead: the team pages of the teams in their parent units or service lines;
- manager: the team pages of their own teams;
- survey administrator: the validation report and the run status;
- analyst: the published analytics file, to download.

Any signed-in person may open the index (which lists only what they may open) and the shared
assets the pages load (plotly.js). Anything else is refused. The decisions here are plain
functions of a `Grant` and a `Catalogue` (what a release holds), so they are tested without a
server.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import duckdb

from dashboards.paths import INDEX_PAGE, LEADERSHIP_PAGE, PLOTLY_BUNDLE, team_page_path
from resilience.quality_report import VALIDATION_PAGE


class Role(StrEnum):
    LEADER = "leader"
    UNIT_LEAD = "unit_lead"
    MANAGER = "manager"
    SURVEY_ADMINISTRATOR = "survey_administrator"
    ANALYST = "analyst"


ROLES: tuple[str, ...] = tuple(role.value for role in Role)
# What each kind of resource is, by its path in the served site.
STATUS_PAGE = "status"
ANALYTICS_DOWNLOAD = "analytics.duckdb"
SHARED_ASSETS = frozenset({PLOTLY_BUNDLE})


class AccessFileError(ValueError):
    """The OIDC access file is malformed: names a role that does not exist, or is not TOML."""


@dataclass(frozen=True)
class Grant:
    """What one person holds: roles, the teams they manage and the units they lead (a unit is a
    parent unit's or a service line's name, as the roster spells it)."""

    roles: frozenset[Role] = frozenset()
    teams: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, roles: list[str] | tuple[str, ...], teams: list[str] = (), units: list[str] = ()
    ) -> Grant:
        """A grant from role names; raises ValueError naming an unknown role."""
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}: one of {', '.join(ROLES)}")
        return cls(frozenset(Role(role) for role in roles), frozenset(teams), frozenset(units))

    def describe(self) -> str:
        parts = [", ".join(sorted(self.roles)) or "no role"]
        if self.teams:
            parts.append("teams " + ", ".join(sorted(self.teams)))
        if self.units:
            parts.append("units " + ", ".join(sorted(self.units)))
        return "; ".join(parts)


@dataclass(frozen=True)
class Team:
    team_id: str
    name: str
    service_line: str | None
    parent_unit: str | None
    page: str  # relative to the dashboards folder: teams/<id>.html


@dataclass(frozen=True)
class Catalogue:
    """What one release holds that access decisions need: its teams with a page."""

    release: str
    teams: tuple[Team, ...] = ()
    by_page: dict[str, Team] = field(default_factory=dict)

    @classmethod
    def of(cls, release: str, teams: list[Team]) -> Catalogue:
        return cls(release, tuple(teams), {team.page: team for team in teams})


def read_catalogue(
    release: str, release_dir: Path, analytics_name: str, dashboards_name: str
) -> Catalogue:
    """The teams of the release in `release_dir` that have a page there, from its published
    `teams` table (never the warehouse), opened read-only."""
    dashboards = release_dir / dashboards_name
    with duckdb.connect(str(release_dir / analytics_name), read_only=True) as con:
        rows = con.execute(
            "select team_id, team_name, service_line, parent_unit from teams order by team_name"
        ).fetchall()
    teams = [
        Team(team_id, name or team_id, service_line, parent_unit, team_page_path(team_id))
        for team_id, name, service_line, parent_unit in rows
    ]
    return Catalogue.of(release, [team for team in teams if (dashboards / team.page).is_file()])


def may_see_team(grant: Grant, team: Team) -> bool:
    if Role.LEADER in grant.roles:
        return True
    if Role.MANAGER in grant.roles and team.team_id in grant.teams:
        return True
    return Role.UNIT_LEAD in grant.roles and bool(
        {team.parent_unit, team.service_line} & grant.units
    )


def may_open(grant: Grant, path: str, catalogue: Catalogue) -> bool:
    """Whether `grant` opens the served path `path` (relative, already checked to be safe) of the
    release `catalogue` describes."""
    if path in ("", INDEX_PAGE) or path in SHARED_ASSETS:
        return True
    if path == ANALYTICS_DOWNLOAD:
        return Role.ANALYST in grant.roles
    if path in (VALIDATION_PAGE, STATUS_PAGE):
        return bool({Role.SURVEY_ADMINISTRATOR, Role.LEADER} & grant.roles)
    team = catalogue.by_page.get(path)
    if team is not None:
        return may_see_team(grant, team)
    # Any other page of the release (the leadership summary among them) is a leader's alone.
    return Role.LEADER in grant.roles and path != STATUS_PAGE


def visible_pages(grant: Grant, catalogue: Catalogue) -> tuple[list[tuple[str, str]], list[Team]]:
    """What the index lists for `grant`: the release-wide pages it opens (path, title) and the
    teams whose pages it opens."""
    pages = [
        (path, title)
        for path, title in (
            (LEADERSHIP_PAGE, "Leadership summary"),
            (VALIDATION_PAGE, "Validation report"),
            (STATUS_PAGE, "Run status"),
            (ANALYTICS_DOWNLOAD, "Published analytics file (DuckDB)"),
        )
        if may_open(grant, path, catalogue)
    ]
    return pages, [team for team in catalogue.teams if may_see_team(grant, team)]


def read_access_file(path: Path) -> dict[str, Grant]:
    """Grants by username from a TOML access file: one table per person,
    `["alice@example.org"]` with `roles`, and `teams` and `units` where their roles need them."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AccessFileError(f"{path}: {error}") from error
    grants = {}
    for username, entry in document.items():
        try:
            grants[username.casefold()] = Grant.of(
                entry.get("roles", []), entry.get("teams", []), entry.get("units", [])
            )
        except (ValueError, AttributeError) as error:
            raise AccessFileError(f"{path}: {username}: {error}") from error
    return grants


def grant_from_groups(groups: list[str], prefix: str) -> Grant:
    """A grant from an identity provider's groups: `<prefix>leader`, `<prefix>manager:T001`,
    `<prefix>unit_lead:Addiction services North` ...; groups without the prefix or naming no
    known role are ignored."""
    roles, teams, units = set(), set(), set()
    for group in groups:
        if not group.startswith(prefix):
            continue
        role, _, scope = group.removeprefix(prefix).partition(":")
        if role not in ROLES:
            continue
        roles.add(role)
        if role == Role.MANAGER and scope:
            teams.add(scope)
        elif role == Role.UNIT_LEAD and scope:
            units.add(scope)
    return Grant.of(sorted(roles), sorted(teams), sorted(units))
