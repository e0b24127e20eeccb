"""Who opens what, deny by default, as plain functions: roles against a small catalogue, the
paths the server ever serves, and grants from an identity provider's groups or an access file."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.access import (
    AccessFileError,
    Catalogue,
    Grant,
    Team,
    grant_from_groups,
    may_open,
    read_access_file,
    visible_pages,
)
from resilience.serving import safe_next, served_path

CATALOGUE = Catalogue.of(
    "r1",
    [
        Team("T1", "Outreach North", "Harm reduction", "North", "teams/T1.html"),
        Team("T2", "Detox North", "Withdrawal", "North", "teams/T2.html"),
        Team("T3", "Outreach South", "Harm reduction", "South", "teams/T3.html"),
    ],
)
LEADER = Grant.of(["leader"])
MANAGER = Grant.of(["manager"], teams=["T1"])
UNIT_LEAD = Grant.of(["unit_lead"], units=["North"])
SERVICE_LINE_LEAD = Grant.of(["unit_lead"], units=["Harm reduction"])
ADMINISTRATOR = Grant.of(["survey_administrator"])
ANALYST = Grant.of(["analyst"])
NOBODY = Grant()
PATHS = (
    "",
    "index.html",
    "plotly.min.js",
    "leadership.html",
    "validation.html",
    "status",
    "analytics.duckdb",
    "teams/T1.html",
    "teams/T2.html",
    "teams/T3.html",
    "teams/T9.html",
    "something-new.html",
)
OPENS = [
    (LEADER, set(PATHS) - {"analytics.duckdb"}),
    (MANAGER, {"", "index.html", "plotly.min.js", "teams/T1.html"}),
    (UNIT_LEAD, {"", "index.html", "plotly.min.js", "teams/T1.html", "teams/T2.html"}),
    (SERVICE_LINE_LEAD, {"", "index.html", "plotly.min.js", "teams/T1.html", "teams/T3.html"}),
    (ADMINISTRATOR, {"", "index.html", "plotly.min.js", "validation.html", "status"}),
    (ANALYST, {"", "index.html", "plotly.min.js", "analytics.duckdb"}),
    (NOBODY, {"", "index.html", "plotly.min.js"}),
]


@pytest.mark.parametrize(
    ("grant", "opened"), OPENS, ids=lambda value: getattr(value, "describe", lambda: "")()
)
def test_each_role_opens_exactly_its_pages(grant: Grant, opened: set[str]) -> None:
    assert {path for path in PATHS if may_open(grant, path, CATALOGUE)} == opened
    pages, teams = visible_pages(grant, CATALOGUE)
    listed = {path for path, _ in pages} | {team.page for team in teams}
    assert listed == opened - {
        "",
        "index.html",
        "plotly.min.js",
        "teams/T9.html",
        "something-new.html",
    }


@pytest.mark.parametrize(
    ("raw", "served"),
    [
        (b"/", ""),
        (b"/index.html", "index.html"),
        (b"/teams/T1.html", "teams/T1.html"),
        (b"/teams/t-1_x.html", "teams/t-1_x.html"),
        (b"/../etc/passwd", None),
        (b"/%2e%2e/etc", None),
        (b"/teams%2FT1.html", None),
        (b"//etc/passwd", None),
        (b"/.env", None),
        (b"/teams/..", None),
        (b"/a\\b", None),
        (b"/a b", None),
        (b"/caf\xc3\xa9.html", None),
        (b"relative.html", None),
    ],
)
def test_only_plain_relative_paths_are_served(raw: bytes, served: str | None) -> None:
    assert served_path(raw) == served


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/teams/T1.html", "/teams/T1.html"),
        ("https://elsewhere.example", "/"),
        ("//elsewhere", "/"),
        (None, "/"),
    ],
)
def test_after_sign_in_only_this_site_is_a_destination(asked: str | None, kept: str) -> None:
    assert safe_next(asked) == kept


def test_grants_from_an_identity_providers_groups() -> None:
    grant = grant_from_groups(
        [
            "resilience-manager:T1",
            "resilience-unit_lead:North",
            "resilience-owner",
            "manager:T3",
            "staff",
        ],
        "resilience-",
    )
    assert grant == Grant.of(["manager", "unit_lead"], teams=["T1"], units=["North"])
    assert grant_from_groups(["leader"], "") == LEADER


def test_grants_from_an_access_file(tmp_path: Path) -> None:
    access = tmp_path / "access.toml"
    access.write_text(
        '["Mia@Example.org"]\nroles = ["manager"]\nteams = ["T1"]\n'
        '["lee@example.org"]\nroles = ["leader"]\n',
        encoding="utf-8",
    )
    assert read_access_file(access) == {"mia@example.org": MANAGER, "lee@example.org": LEADER}
    access.write_text('["x@example.org"]\nroles = ["owner"]\n', encoding="utf-8")
    with pytest.raises(AccessFileError, match=r"x@example\.org: unknown role"):
        read_access_file(access)
