"""The written dashboard pages: files, links, escaping, offline loading, and what each team page
may hold (no browser)."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import duckdb
import pandas as pd
import plotly.io as pio
import pytest

from dashboards.model import PublishedTables, read_published_tables
from dashboards.pages import PageLink, TeamPageWriter, team_page_path, write_dashboards
from tests.test_dashboard_figures import (
    ESCAPED_SCRIPT_TEAM,
    MIN_GROUP_SIZE,
    SCRIPT_TEAM,
    make_published_tables,
    make_run_facts,
)

VALIDATION_REPORT = PageLink("validation.html", "Validation report", "what was checked and kept")
TEAM_PAGES = ["teams/dropin.html", "teams/east.html", "teams/housing.html", "teams/script.html"]
NEW_PLOT = re.compile(r'Plotly\.newPlot\(\s*"[^"]+",\s*')


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out_dir = tmp_path_factory.mktemp("dashboards")
    paths = write_dashboards(
        out_dir,
        make_published_tables(),
        make_run_facts(),
        MIN_GROUP_SIZE,
        linked_pages=[VALIDATION_REPORT],
    )
    return {path.relative_to(out_dir).as_posix(): path for path in paths}


def _html(site: dict[str, Path], page: str) -> str:
    return site[page].read_text(encoding="utf-8")


def _section_ids(html: str) -> list[str]:
    return re.findall(r'<section class="figure-section" id="([a-z-]+)"', html)


def _figure_layouts(html: str) -> list[dict[str, object]]:
    """The layout of every figure the page draws (plotly writes data, then layout)."""
    decoder = json.JSONDecoder()
    layouts = []
    for match in NEW_PLOT.finditer(html):
        _, end = decoder.raw_decode(html, match.end())
        layout, _ = decoder.raw_decode(html, html.index("{", end))
        layouts.append(layout)
    return layouts


# --- files and links --------------------------------------------------------------------------


def test_pages_and_one_shared_plotly_bundle_are_written(site):
    # Night shelter has no shown score in the latest wave, so it gets no page.
    assert list(site) == ["index.html", "leadership.html", *TEAM_PAGES, "plotly.min.js"]
    assert site["plotly.min.js"].stat().st_size > 1_000_000
    leadership = _html(site, "leadership.html")
    assert leadership.count('<script charset="utf-8" src="plotly.min.js"></script>') == 1
    # One figure a section; where to act, the organization's scores and the early warnings are
    # HTML.
    assert leadership.count('class="plotly-graph-div"') == 7


@pytest.mark.parametrize("page", TEAM_PAGES)
def test_team_pages_load_the_one_bundle_from_the_folder_above(site, page):
    html = _html(site, page)

    assert html.count('<script charset="utf-8" src="../plotly.min.js"></script>') == 1
    assert html.count("<script charset") == 1
    assert html.count('class="plotly-graph-div"') == 3
    assert '<a href="../leadership.html">' in html
    assert '<a href="../index.html">' in html


@pytest.mark.parametrize("page", ["index.html", "leadership.html", *TEAM_PAGES])
def test_pages_request_nothing_from_the_network(site, page):
    text = _html(site, page)

    # Links to credits are fine (followed only when clicked); loaded resources are not.
    assert not re.search(r"""src=["']?(https?:)?//""", text)
    assert "<link" not in text
    assert "@import" not in text
    assert "url(" not in text
    assert "cdn" not in text.lower()


@pytest.mark.parametrize("page", ["leadership.html", *TEAM_PAGES])
def test_every_figure_carries_the_dashboard_template(site, page):
    layouts = _figure_layouts(_html(site, page))

    # Figures are written without plotly's validation, which is what used to add the template.
    template = json.loads(json.dumps(pio.templates["plotly_white"].to_plotly_json()))
    assert len(layouts) == (7 if page == "leadership.html" else 3)
    assert all(layout["template"] == template for layout in layouts)


def test_index_page_says_what_ran_and_links_every_page(site):
    index = _html(site, "index.html")

    assert '<a href="leadership.html">Leadership summary</a>' in index
    assert '<a href="validation.html">Validation report</a>: what was checked and kept' in index
    for page, name in zip(
        TEAM_PAGES,
        ["Drop-in centre", "Mobile outreach East", "Housing support", ESCAPED_SCRIPT_TEAM],
        strict=True,
    ):
        assert f'<a href="{page}">{name}</a>' in index
    assert "1 team has no page:\n  fewer than 5 respondents." in index
    assert "nightly-2025-05-20" in index
    assert "2025-05-20 02:00 UTC" in index
    assert "4 min 12 s" in index
    for count in ("310", "301", "9"):
        assert f"<td>{count}</td>" in index


@pytest.mark.parametrize(
    ("team_id", "path"),
    [
        ("T001", "teams/T001.html"),
        ("team_7-b", "teams/team_7-b.html"),
        # Anything else is reduced to a plain name, kept unique by a hash of the id.
        ("../../etc/passwd", "teams/etc-passwd-"),
        ("Night shelter", "teams/Night-shelter-"),
        ("..", "teams/"),
    ],
)
def test_team_page_paths_stay_plain_file_names_in_the_teams_folder(team_id, path):
    page = team_page_path(team_id)

    assert page.startswith(path)
    assert re.fullmatch(r"teams/[A-Za-z0-9_-]+\.html", page)


def test_team_page_paths_of_similar_ids_differ():
    assert team_page_path("a b") != team_page_path("a/b")


# --- the leadership page ----------------------------------------------------------------------


def test_leadership_sections_follow_the_published_tables(site):
    assert _section_ids(_html(site, "leadership.html")) == [
        "teams",
        "groups",
        "trend",
        "bands",
        "exposure",
        "participation",
        "reliability",
    ]


def test_leadership_lists_the_latest_wave_early_warnings_with_their_evidence(site):
    leadership = _html(site, "leadership.html")
    warnings = leadership[leadership.index('<section id="warnings"') :]
    warnings = warnings[: warnings.index("</section>")]

    # Grouped by team, the team named once above its warnings.
    assert '<h3><a href="teams/east.html">Mobile outreach East</a>: 1 warning</h3>' in warnings
    assert "<td>Secondary traumatic stress (ProQOL 5)</td>" in warnings
    assert "<td>moved into a less favourable band</td>" in warnings
    assert "(43.5 in 2025-05)" in warnings
    # An earlier wave's warning is history, not news.
    assert "an earlier wave" not in warnings


def test_leadership_team_table_links_team_pages_and_flags_low_participation(site):
    leadership = _html(site, "leadership.html")

    assert (
        '<tr><td><a href="teams/dropin.html">Drop-in centre</a></td><td>Harm reduction</td>'
        "<td>Community services</td><td>48% (low)</td><td>shown</td></tr>"
    ) in leadership
    # No page, no rate, and the same words whether its rows were suppressed or absent.
    assert (
        "<tr><td>Night shelter</td><td>Housing</td><td>Residential services</td><td></td>"
        "<td>fewer than 5 respondents</td></tr>"
    ) in leadership


def test_team_names_are_text_in_the_page(site):
    leadership = _html(site, "leadership.html")

    # In the HTML around the figures the name is escaped text ...
    assert f'<a href="teams/script.html">{ESCAPED_SCRIPT_TEAM}</a>' in leadership
    # ... inside plotly's JSON it is data, escaped for plotly's own markup (and "/" by plotly) ...
    assert r"&lt;script&gt;alert(1)&lt;\u002fscript&gt;" in leadership
    # ... and nowhere is it a tag the browser would run.
    assert SCRIPT_TEAM not in leadership
    team_page = _html(site, "teams/script.html")
    assert f"<h1>{ESCAPED_SCRIPT_TEAM}</h1>" in team_page
    assert SCRIPT_TEAM not in team_page


def test_leadership_page_credits_the_instruments_and_explains_the_method(site):
    leadership = _html(site, "leadership.html")

    assert '<a href="https://proqol.org">proqol.org</a>' in leadership
    assert "Center for Victims of Torture" in leadership
    # A link from the data that is not a web address stays unlinked.
    assert "javascript:" not in leadership
    # Only instruments behind a published indicator are credited.
    assert "Stimulant-work context" not in leadership
    assert "No number on this page describes fewer than 5 respondents" in leadership
    assert "<strong>t interval</strong>" in leadership
    assert "<strong>Wilson interval</strong>" in leadership
    assert "42 or more" in leadership
    assert "rather than a validated cut-off" in leadership
    assert (
        "Early-warning rules behind the warnings on this page: moved into a less favourable"
        " band." in leadership
    )


def test_pages_without_the_optional_tables_leave_their_sections_out(tmp_path):
    paths = write_dashboards(
        tmp_path, make_published_tables(optional=False), make_run_facts(), MIN_GROUP_SIZE
    )
    leadership = (tmp_path / "leadership.html").read_text(encoding="utf-8")

    assert [path.name for path in paths][-1] == "plotly.min.js"
    assert _section_ids(leadership) == ["teams", "trend", "bands"]
    assert "Response rate" not in leadership
    assert "Early-warning rules" not in leadership
    team_page = (tmp_path / "teams" / "east.html").read_text(encoding="utf-8")
    assert _section_ids(team_page) == ["comparison", "trend", "bands"]
    assert 'id="actions"' not in team_page
    assert 'id="participation"' not in team_page


# --- team pages -------------------------------------------------------------------------------


def test_team_page_shows_its_actions_participation_and_warnings(site):
    east = _html(site, "teams/east.html")

    assert _section_ids(east) == ["comparison", "trend", "bands"]
    assert "<td>2025-02-10</td><td>Mobile outreach East</td>" in east
    assert "Weekly reflective supervision started" in east
    assert "<td>2025-03-15</td><td>Whole organization</td><td>Peer support line opened</td>" in east
    assert "<td>2025-05</td><td>60% (12 of 20)</td><td>52% (54 of 104)</td>" in east
    assert "<td>moved into a less favourable band</td>" in east
    dropin = _html(site, "teams/dropin.html")
    assert (
        "Changed beyond chance between 2025-03 and 2025-05: Secondary traumatic stress"
        " (ProQOL 5) 28.7 to 30.2."
    ) in dropin
    assert '48% (12 of 25) <strong class="flag">low participation</strong>' in dropin


# Team ids and names that no page text could contain by chance.
RENAMED_TEAMS = {
    "east": ("kestrel-id", "Kestrel outreach"),
    "dropin": ("otter-id", "Otter drop-in"),
    "housing": ("heron-id", "Heron housing"),
    "script": ("ibis-id", "Ibis crew"),
    "night": ("wren-id", "Wren shelter"),
}


def _distinctive_tables() -> tuple[PublishedTables, dict[str, set[str]]]:
    """The fixture with new team ids and names and numbers no two teams share, and, per team id,
    every text that only that team's rows could put on a page."""
    tables = make_published_tables()
    renamed = {old: new for old, (new, _) in RENAMED_TEAMS.items()}
    owned: dict[str, set[str]] = {new: {new, name} for new, name in RENAMED_TEAMS.values()}

    teams = tables.teams.copy()
    teams["team_name"] = teams["team_id"].map(lambda old: RENAMED_TEAMS[old][1])
    teams["team_id"] = teams["team_id"].map(renamed)

    indicators = tables.team_indicators.copy()
    indicators["team_id"] = indicators["team_id"].map(renamed)
    indicators["shrunk_value"] = None
    for position, index in enumerate(indicators.index):
        team = indicators.at[index, "team_id"]
        rank = list(owned).index(team) + 1
        tag = (rank * 10_000 + position) * 1e-8
        if indicators.at[index, "suppressed"]:
            continue
        for column in ("value", "ci_low", "ci_high"):
            indicators.at[index, column] = round(indicators.at[index, column] + tag, 8)
        indicators.at[index, "n"] = rank * 1_000 + position
        indicators.at[index, "shrunk_value"] = round(indicators.at[index, "value"] - tag / 2, 9)
        owned[team] |= {
            json.dumps(float(indicators.at[index, "value"])),
            json.dumps(float(indicators.at[index, "shrunk_value"])),
            f"n = {rank * 1_000 + position}",
        }

    rates = tables.response_rates.copy()
    teams_rows = rates["group_type"] == "team"
    rates.loc[teams_rows, "group_id"] = rates.loc[teams_rows, "group_id"].map(renamed)
    for rank, index in enumerate(rates.index[teams_rows & rates["response_rate"].notna()]):
        invited, respondents = 900 + rank, 700 + rank
        rates.loc[index, ["invited", "respondents", "response_rate"]] = [
            invited,
            respondents,
            respondents / invited,
        ]
        owned[rates.at[index, "group_id"]].add(f"({respondents} of {invited})")

    warnings = tables.early_warnings.copy()
    warnings["team_id"] = warnings["team_id"].map(renamed)
    warnings["wave"] = warnings["wave"].max()
    warnings["evidence"] = [f"evidence only {team} has" for team in warnings["team_id"]]
    actions = tables.actions.copy()
    actions["team_id"] = actions["team_id"].map(renamed)
    actions["action"] = [
        f"action only {team} took" if isinstance(team, str) else text
        for team, text in zip(actions["team_id"], actions["action"], strict=True)
    ]
    for team in set(warnings["team_id"]) | set(actions["team_id"].dropna()):
        owned[team] |= {f"evidence only {team} has", f"action only {team} took"}

    # A team's own exposure rows, and a service line holding several teams: neither belongs on
    # another team's page (nor, for the service line, on any team's page).
    exposure = tables.exposure_effects.copy()
    own_exposure = exposure.assign(
        group_type="team", group_id="otter-id", value=exposure["value"] + 0.00000777
    )
    for value in own_exposure["value"].dropna():
        owned["otter-id"].add(json.dumps(float(value)))
    groups = tables.group_indicators.copy()
    groups["value"] = groups["value"] + 0.00000555
    groups.loc[groups["value"].notna(), "n"] = 7777
    cuts = {json.dumps(float(value)) for value in groups["value"].dropna()} | {"n = 7777"}

    distinctive = dataclasses.replace(
        tables,
        teams=teams,
        team_indicators=indicators,
        response_rates=rates,
        early_warnings=warnings,
        actions=actions,
        exposure_effects=pd.concat([exposure, own_exposure], ignore_index=True),
        group_indicators=groups,
    )
    owned["service lines"] = cuts
    return distinctive, owned


@pytest.fixture(scope="module")
def distinctive_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, set[str]]]:
    out_dir = tmp_path_factory.mktemp("distinctive")
    tables, owned = _distinctive_tables()
    write_dashboards(out_dir, tables, make_run_facts(), MIN_GROUP_SIZE)
    return out_dir, owned


def test_each_team_page_holds_no_other_teams_id_name_or_numbers(distinctive_site):
    out_dir, owned = distinctive_site

    pages = {path.stem: path.read_text(encoding="utf-8") for path in (out_dir / "teams").iterdir()}
    assert sorted(pages) == ["heron-id", "ibis-id", "kestrel-id", "otter-id"]
    for team_id, html in pages.items():
        # The page shows this team's own rows (so the search below looks in the right places) ...
        shown_own = {text for text in owned[team_id] if text in html}
        assert dict(RENAMED_TEAMS.values())[team_id] in shown_own
        assert sum(text.startswith("n = ") for text in shown_own) >= 8
        # ... and nothing that only another team's rows, or a cut of several teams, could hold.
        for other, texts in owned.items():
            if other != team_id:
                leaked = sorted(text for text in texts if text in html)
                assert leaked == [], f"{team_id}'s page shows {other}'s {leaked}"


def test_the_same_search_finds_every_team_on_the_leadership_page(distinctive_site):
    """The counterpart of the team-page test: the search finds what it looks for where it is
    meant to be."""
    out_dir, owned = distinctive_site

    leadership = (out_dir / "leadership.html").read_text(encoding="utf-8")
    for team_id, texts in owned.items():
        if team_id != "service lines":
            assert any(text.startswith("n = ") and text in leadership for text in texts), team_id
    assert "n = 7777" in leadership


# --- reading the published file ---------------------------------------------------------------


def write_analytics(path: Path, tables: PublishedTables) -> None:
    with duckdb.connect(str(path)) as con:
        for name, frame in tables.frames():
            con.register("frame", frame)
            con.execute(f"create table {name} as select * from frame")
            con.unregister("frame")


def test_read_published_tables_reads_the_optional_tables_present(tmp_path):
    tables = make_published_tables()
    write_analytics(tmp_path / "analytics.duckdb", dataclasses.replace(tables, actions=None))

    read = read_published_tables(tmp_path / "analytics.duckdb")

    assert read.actions is None
    assert len(read.response_rates) == len(tables.response_rates)
    assert read.reported_team_ids() == tables.reported_team_ids()


def test_read_published_tables_names_a_missing_required_table(tmp_path):
    path = tmp_path / "analytics.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table teams as select 'T1' as team_id")

    with pytest.raises(ValueError, match="lacks the published tables indicator_definitions"):
        read_published_tables(path)


def test_team_pages_written_by_a_helper_process_equal_those_written_in_process(
    tmp_path, monkeypatch
):
    tables, run = make_published_tables(), make_run_facts()
    in_process = write_dashboards(tmp_path / "one", tables, run, MIN_GROUP_SIZE, workers=1)
    # This process holds back its first page until a helper has written one, so that the helper
    # surely writes some (the helper unpickles the writer unpatched).
    helpers_teams = tmp_path / "two" / "teams"
    written_here: set[str] = set()
    write_in_process = TeamPageWriter.write

    def write_once_a_helper_wrote(writer, team):
        deadline = time.monotonic() + 120
        while not {page.name for page in helpers_teams.glob("*.html")} - written_here:
            assert time.monotonic() < deadline, "no helper wrote a page in 120 s"
            time.sleep(0.05)
        written_here.add(Path(team[1]).name)
        return write_in_process(writer, team)

    monkeypatch.setattr(TeamPageWriter, "write", write_once_a_helper_wrote)
    monkeypatch.setattr("dashboards.pages.PARALLEL_TEAM_PAGES_FROM", 2)
    with_helper = write_dashboards(tmp_path / "two", tables, run, MIN_GROUP_SIZE, workers=2)

    assert [path.relative_to(tmp_path / "two") for path in with_helper] == [
        path.relative_to(tmp_path / "one") for path in in_process
    ]
    team_pages = {path.name for path in helpers_teams.glob("*.html")}
    assert len(team_pages) >= 2
    assert team_pages - written_here, "the helper wrote no page"
    for written_alone, written_with_helper in zip(in_process, with_helper, strict=True):
        assert written_with_helper.read_bytes() == written_alone.read_bytes()


def _written_again(
    tmp_path: Path, tables: PublishedTables, min_group_size: int = MIN_GROUP_SIZE
) -> tuple[Path, Path]:
    """The dashboards written once, then written again from `tables` by a later run that may keep
    the first run's team pages."""
    published, later = tmp_path / "published", tmp_path / "later"
    write_dashboards(published, make_published_tables(), make_run_facts(), MIN_GROUP_SIZE)
    later_run = dataclasses.replace(make_run_facts(), run_id="nightly-2025-05-21")
    write_dashboards(later, tables, later_run, min_group_size, reuse_from=published)
    return published, later


def _same_file(first: Path, second: Path) -> bool:
    return first.stat().st_ino == second.stat().st_ino


def test_a_team_page_made_from_the_same_data_is_kept_and_a_changed_one_written(tmp_path):
    tables = make_published_tables()
    actions = tables.actions.copy()
    # Drop-in's own action: no other team's page shows it.
    actions.loc[actions["action_id"] == "a2", "action"] = "Debrief after every shift"
    published, later = _written_again(tmp_path, dataclasses.replace(tables, actions=actions))

    dropin = (later / "teams/dropin.html").read_text(encoding="utf-8")
    assert not _same_file(published / "teams/dropin.html", later / "teams/dropin.html")
    assert "Debrief after every shift" in dropin
    assert "nightly-2025-05-21" in dropin
    for page in set(TEAM_PAGES) - {"teams/dropin.html"}:
        assert _same_file(published / page, later / page), page
        assert "nightly-2025-05-20" in (later / page).read_text(encoding="utf-8")
    assert "nightly-2025-05-21" in (later / "index.html").read_text(encoding="utf-8")
    # Writing the new release never wrote through a kept page into the published one.
    assert "Debrief after every shift" not in (published / "teams/dropin.html").read_text(
        encoding="utf-8"
    )


def test_an_organization_change_rewrites_every_team_page(tmp_path):
    tables = make_published_tables()
    org = tables.org_indicators.copy()
    org.loc[org.index[0], "value"] = org.loc[org.index[0], "value"] + 1
    published, later = _written_again(tmp_path, dataclasses.replace(tables, org_indicators=org))

    for page in TEAM_PAGES:
        assert not _same_file(published / page, later / page), page


def test_another_minimum_group_size_or_an_edited_page_is_written_again(tmp_path):
    published, later = _written_again(tmp_path, make_published_tables(), MIN_GROUP_SIZE + 1)
    for page in TEAM_PAGES:
        assert not _same_file(published / page, later / page), page

    edited = tmp_path / "edited"
    published, later = _written_again(edited, make_published_tables())
    assert all(_same_file(published / page, later / page) for page in TEAM_PAGES)
    page = published / "teams/east.html"
    page.write_text(re.sub(r'name="content-digest" content="[0-9a-f]+"', "", page.read_text()))
    later_run = dataclasses.replace(make_run_facts(), run_id="nightly-2025-05-22")
    again = edited / "again"
    write_dashboards(
        again, make_published_tables(), later_run, MIN_GROUP_SIZE, reuse_from=published
    )
    assert not _same_file(page, again / "teams/east.html")
    assert "nightly-2025-05-22" in (again / "teams/east.html").read_text(encoding="utf-8")


def test_a_team_digest_covers_its_own_rows_and_the_organizations_in_any_order():
    tables = make_published_tables()
    teams = tables.reported_team_ids()
    digests = tables.team_digests(teams)
    shuffled = dataclasses.replace(
        tables,
        team_indicators=tables.team_indicators.sample(frac=1, random_state=1),
        org_indicators=tables.org_indicators.sample(frac=1, random_state=2),
    )
    assert shuffled.team_digests(teams) == digests

    indicators = tables.team_indicators.copy()
    east_row = indicators.index[indicators["team_id"] == "east"][0]
    indicators.loc[east_row, "n"] = indicators.loc[east_row, "n"] + 1
    changed = dataclasses.replace(tables, team_indicators=indicators).team_digests(teams)
    assert {team for team in teams if changed[team] != digests[team]} == {"east"}
