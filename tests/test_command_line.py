"""The command line answers at once: a usage error is one line and exit 2 before anything starts,
and the commands that need neither Prefect nor Great Expectations never import them.

Each command runs in its own Python process, as a user types it. Speed is asserted as the CPU
time the command used (what it costs, whatever else the machine is doing); wall times are printed
by `python -m benchmarks.commands`."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

# Runs the command line in-process, then says which heavy packages the command imported.
COMMAND = textwrap.dedent(
    """
    import sys
    from resilience.cli import main
    try:
        code = main(sys.argv[1:])
    except SystemExit as stop:
        code = stop.code
    heavy = sorted({"prefect", "great_expectations"} & set(sys.modules))
    print("imported:" + ",".join(heavy), file=sys.stderr)
    sys.exit(code)
    """
)
HEAVY_REPORT = "imported:"


def run_command(arguments: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """The command's result with its heavy imports line split off the end of stderr, and the CPU
    seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, "-c", COMMAND, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), "HOME": str(cwd)},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, cpu_seconds


def imported_heavy(result: subprocess.CompletedProcess) -> str:
    report = result.stderr.splitlines()[-1]
    assert report.startswith(HEAVY_REPORT), result.stderr
    return report.removeprefix(HEAVY_REPORT)


def stderr_without_report(result: subprocess.CompletedProcess) -> list[str]:
    return result.stderr.splitlines()[:-1]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site folder whose configuration points only inside it, with an export and a roster but
    nothing run yet."""
    (tmp_path / "exports").mkdir()
    (tmp_path / "mappings").mkdir()
    (tmp_path / "exports" / "wave.csv").write_text("response_id,team_id\nr1,T001\n")
    (tmp_path / "roster.csv").write_text("team_id,team_name,wave,headcount\nT001,One,2026-01,9\n")
    (tmp_path / "resilience.toml").write_text(
        '[paths]\nexports = "exports"\nroster = "roster.csv"\nmappings = "mappings"\n'
        'out = "build"\nstate = "state"\nactions = "actions.csv"\n'
    )
    return tmp_path


USAGE_ERRORS = {
    "run: exports folder missing": (
        ["run", "--config", "resilience.toml", "--exports", "no-such-folder"],
        "no-such-folder",
    ),
    "run: roster missing": (
        ["run", "--config", "resilience.toml", "--roster", "no-such-roster.csv"],
        "no-such-roster.csv",
    ),
    "run: configuration missing": (["run", "--config", "no-such.toml"], "no-such.toml"),
    "run: unknown option": (["run", "--exprots", "exports"], "--exprots"),
    "unknown command": (["rnu"], "rnu"),
    "inspect: file missing": (["inspect", "no-such-export.csv"], "no-such-export.csv"),
    "validate: file missing": (
        ["validate", "--config", "resilience.toml", "no-such-export.csv"],
        "no-such-export.csv",
    ),
    "status: runs below 1": (["status", "--config", "resilience.toml", "--runs", "0"], "--runs"),
    "sample: one wave": (["sample", "--waves", "1", "--out", "sample"], "--waves"),
    "sample: not a number": (["sample", "--teams", "many", "--out", "sample"], "'many'"),
    "export-tables: unknown format": (["export-tables", "--format", "xls"], "xls"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS, ids=list(USAGE_ERRORS))
def test_a_usage_error_is_one_line_and_exit_2_before_anything_starts(site: Path, case: str) -> None:
    arguments, named = USAGE_ERRORS[case]
    before = sorted(path.relative_to(site) for path in site.rglob("*"))
    result, cpu_seconds = run_command(arguments, site)
    message = stderr_without_report(result)
    assert result.returncode == 2, result.stderr
    assert len(message) == 1, message
    assert named in message[0]
    assert message[0].startswith("resilience")
    assert result.stdout == ""
    # Nothing recorded: no run, no state, no output folder, no Prefect server.
    assert sorted(path.relative_to(site) for path in site.rglob("*")) == before
    assert imported_heavy(result) == ""
    assert cpu_seconds < 2.0


SAMPLE_EXPORT = next((PROJECT_ROOT / "data" / "sample" / "exports").glob("*.csv"))
# Each command with the exit code it answers here: status says 1 while nothing is published.
LIGHT_COMMANDS = {
    "help": (["--help"], 0),
    "run --help": (["run", "--help"], 0),
    "inspect --help": (["inspect", "--help"], 0),
    "inspect": (
        ["inspect", "--config", str(PROJECT_ROOT / "resilience.toml"), str(SAMPLE_EXPORT)],
        0,
    ),
    "status": (["status", "--config", "resilience.toml"], 1),
    "sample": (
        ["sample", "--responses", "60", "--teams", "4", "--waves", "2", "--out", "sample"],
        0,
    ),
}


@pytest.mark.parametrize("case", LIGHT_COMMANDS, ids=list(LIGHT_COMMANDS))
def test_commands_that_need_no_pipeline_import_neither_prefect_nor_great_expectations(
    site: Path, case: str
) -> None:
    arguments, exit_code = LIGHT_COMMANDS[case]
    result, cpu_seconds = run_command(arguments, site)
    assert result.returncode == exit_code, result.stderr
    assert result.stdout.strip()
    assert imported_heavy(result) == ""
    if case != "sample":
        assert cpu_seconds < 1.5


def test_every_help_shows_its_defaults() -> None:
    from resilience.cli import build_parser

    parser = build_parser()
    commands = next(
        action for action in parser._actions if action.dest == "command"
    ).choices.items()
    for name, command in commands:
        for action in command._actions:
            if action.default not in (None, False, "==SUPPRESS==") and action.help:
                assert "default" in action.help, f"{name} {action.option_strings}: {action.help}"
