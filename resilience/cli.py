"""`resilience`: the command line of the staff-resilience survey pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from resilience.settings import DEFAULT_CONFIG, load_settings

if TYPE_CHECKING:
    from resilience.status import Status

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 3
EXIT_NOT_READY = 4
EXIT_INTERRUPTED = 130
EXIT_CODES_HELP = """\
exit codes, for a scheduler to act on (the reason is the last line of standard error):
  0    success
  1    the command failed (a run is recorded as failed, with the same reason)
  2    bad command line or configuration
  3    another run holds the output folder: try again later
  4    the exports folder could not be read, even after retries: try again later
  130  interrupted

Run 'resilience COMMAND --help' for the options of one command."""


def _add_path_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        help="configuration file (default: resilience.toml in the project folder)",
    )
    parser.add_argument("--exports", type=Path, help="folder of survey exports to ingest")
    parser.add_argument("--roster", type=Path, help="roster CSV: teams and headcount per wave")
    parser.add_argument(
        "--out", type=Path, help="output folder for the warehouse, analytics file and dashboards"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="resilience",
        description=(
            "Turn anonymous staff-resilience survey exports (ProQOL 5, Copenhagen Burnout\n"
            "Inventory, Brief Resilience Scale, stimulant-work context items) into team\n"
            "indicators that protect respondents' anonymity, and offline dashboards."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the nightly job once: ingest, validate, load, score, publish, dashboards",
        description=(
            "Run the whole nightly job once through Prefect (no server needed). New exports are "
            "loaded, files loaded before are skipped, bad rows are quarantined with reasons, and "
            "the published analytics file and dashboards are replaced only when every stage "
            "succeeded."
        ),
    )
    _add_path_options(run)

    sample = commands.add_parser(
        "sample",
        help="write realistic, deterministic sample exports and a roster",
        description=(
            "Write Qualtrics-format sample exports (one per wave), a roster and a column mapping "
            "generated from a latent model of stimulant-work exposure. The same arguments always "
            "give the same files."
        ),
    )
    sample.add_argument("--responses", type=int, default=3000, help="responses across all waves")
    sample.add_argument("--teams", type=int, default=40, help="number of teams")
    sample.add_argument("--waves", type=int, default=3, help="number of survey waves")
    sample.add_argument("--seed", type=int, default=20251, help="random seed")
    sample.add_argument("--out", type=Path, required=True, help="folder to write into")

    inspect = commands.add_parser(
        "inspect",
        help="show how an export would be read, without loading anything",
        description=(
            "Show the detected tool and layout, encoding, the number of responses, the columns "
            "mapped to canonical ids, the identifying columns that would be dropped, unmapped "
            "columns, and problems."
        ),
    )
    inspect.add_argument("file", type=Path, help="the export file")
    inspect.add_argument("--config", type=Path, help="configuration file (for the mappings)")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_status_command(commands)
    _add_schedule_command(commands)
    _add_export_png_command(commands)
    _add_export_tables_command(commands)
    _add_validate_command(commands)
    return parser


def _add_status_command(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser(
        "status",
        help="show the last runs and what is published",
        description=(
            "Show whether a run is in progress, the last runs with their outcome and counts "
            "(from the warehouse, opened read-only, and only when no run holds it), and what "
            "readers see: the published release, the analytics file's tables with their row "
            "counts and modification time, and the dashboard pages. Exits 1 when the last run "
            "failed or was interrupted, or nothing is published, so a monitor can alert on it."
        ),
    )
    status.add_argument(
        "--config",
        type=Path,
        help="configuration file (default: resilience.toml in the project folder)",
    )
    status.add_argument("--out", type=Path, help="output folder of the runs to show")
    status.add_argument("--runs", type=int, default=10, help="how many runs to list (default 10)")
    status.add_argument("--json", action="store_true", help="print JSON instead of tables")


def _add_schedule_command(commands: argparse._SubParsersAction) -> None:
    schedule = commands.add_parser(
        "schedule",
        help="run the nightly job on its schedule from this machine (needs a Prefect server)",
        description=(
            "Register the deployment nightly/<schedule.deployment> on the Prefect server named by "
            "PREFECT_API_URL, with the cron schedule and time zone of [schedule] in the "
            "configuration, and run its flow runs from this process until it is stopped. "
            "Stopping it (Ctrl-C, SIGTERM) pauses the schedule until it is started again. For "
            "several sites, run one per site configuration; with workers, use prefect.yaml "
            "instead (docs/operations.md)."
        ),
    )
    schedule.add_argument(
        "--config",
        type=Path,
        help="configuration file of the site (default: resilience.toml in the project folder)",
    )


def _add_export_png_command(commands: argparse._SubParsersAction) -> None:
    export_png = commands.add_parser(
        "export-png",
        help="write the leadership charts as PNG images for board packs",
        description=(
            "Render every chart of the leadership dashboard from the published analytics file "
            "to a PNG image (01-organization.png, 02-teams.png ...), offline, with kaleido and "
            "a headless Chromium: the one named by BROWSER_PATH, else a Chromium or Chrome on "
            "the PATH."
        ),
    )
    export_png.add_argument(
        "--config",
        type=Path,
        help="configuration file (default: resilience.toml in the project folder)",
    )
    export_png.add_argument(
        "--out", type=Path, help="folder for the images (default: <paths.out>/board-pack)"
    )


def _add_export_tables_command(commands: argparse._SubParsersAction) -> None:
    export_tables = commands.add_parser(
        "export-tables",
        help="write the published tables as Parquet or CSV files for BI tools",
        description=(
            "Write every table of the published analytics file (<paths.out>/analytics.duckdb), "
            "exactly as published, one file per table: suppressed cells stay empty, and "
            "data_dictionary.<format> says what every column means. The file is opened "
            "read-only, so analysts and a nightly run publishing a new release do not stop it. "
            "Every run also writes both formats into its release, at <paths.out>/tables/parquet "
            "and <paths.out>/tables/csv; this command writes them where you choose."
        ),
    )
    export_tables.add_argument(
        "--format",
        dest="file_format",
        choices=("parquet", "csv"),
        default="parquet",
        help="file format: parquet, or csv (UTF-8, header row, empty for null) (default: parquet)",
    )
    export_tables.add_argument(
        "--out",
        type=Path,
        help="folder for the files (default: <paths.out>/exported-tables/<format>)",
    )
    export_tables.add_argument(
        "--config",
        type=Path,
        help="configuration file (default: resilience.toml in the project folder)",
    )


def _add_validate_command(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser(
        "validate",
        help="check an export as a run would, without loading anything",
        description=(
            "Read one export as the nightly run does and check it against the same rules, in a "
            "throwaway in-memory database: print how many rows would load, which would be "
            "quarantined (row, column, rule and value) and whether the whole file would be held "
            "back, and why. Nothing is written: not the warehouse, not the archive. Exits 1 when "
            "the file would be held back or cannot be read."
        ),
    )
    validate.add_argument("file", type=Path, help="the export file")
    validate.add_argument(
        "--config",
        type=Path,
        help="configuration file: mappings, roster, wave windows and the held-back share",
    )
    validate.add_argument("--roster", type=Path, help="roster CSV: the teams a row may name")
    validate.add_argument("--json", action="store_true", help="print JSON instead of text")


def _run(arguments: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from resilience.runtime import configure_prefect

    settings = load_settings(
        arguments.config, exports=arguments.exports, roster=arguments.roster, out=arguments.out
    )
    configure_prefect(settings)
    from flows.nightly import nightly
    from resilience.report import summary_lines

    report = nightly(
        config=str(arguments.config) if arguments.config else None,
        exports=str(arguments.exports) if arguments.exports else None,
        roster=str(arguments.roster) if arguments.roster else None,
        out=str(arguments.out) if arguments.out else None,
        progress=sys.stderr.isatty(),
    )
    table = Table(title="Nightly run", show_header=False)
    for name, value in summary_lines(report):
        table.add_row(name, value)
    kept = " (kept: nothing changed since it was built)" if report.release_unchanged else ""
    table.add_row("published release", f"{report.release}{kept}")
    Console().print(table)
    for file_report in report.files:
        if file_report.status in ("quarantined", "held_back", "waiting"):
            print(f"{file_report.status}: {file_report.reason}", file=sys.stderr)
    return EXIT_OK


def _sample(arguments: argparse.Namespace) -> int:
    from resilience.sample import generate_sample

    summary = generate_sample(
        arguments.out,
        responses=arguments.responses,
        teams=arguments.teams,
        waves=arguments.waves,
        seed=arguments.seed,
    )
    print(summary.describe())
    return EXIT_OK


def _inspect(arguments: argparse.Namespace) -> int:
    from resilience.formats import load_mappings
    from resilience.inspection import inspect_export
    from resilience.instruments import load_registry

    settings = load_settings(arguments.config)
    result = inspect_export(arguments.file, load_mappings(settings.paths.mappings), load_registry())
    if arguments.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return EXIT_OK if not result["problems"] else EXIT_FAILED


def _status(arguments: argparse.Namespace) -> int:
    from resilience.status import read_status

    settings = load_settings(arguments.config, out=arguments.out)
    status = read_status(settings, limit=arguments.runs)
    if arguments.json:
        print(json.dumps(asdict(status), indent=2, default=str))
    else:
        _print_status(status)
    healthy = not status.last_run_failed and status.published is not None
    return EXIT_OK if healthy else EXIT_FAILED


def _print_status(status: Status) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if status.running is not None:
        running = status.running
        console.print(
            f"Run in progress: {running.run_id} (pid {running.pid}, since {running.started_at})"
        )
    else:
        console.print("No run in progress.")
    if status.runs_unavailable:
        console.print(f"Runs: not available ({status.runs_unavailable})")
    else:
        runs = Table(title="Last runs (times in UTC)")
        for column in ("run", "started", "finished", "outcome"):
            runs.add_column(column, no_wrap=True)
        for column in ("files", "read", "loaded", "quarantined"):
            runs.add_column(column, justify="right")
        runs.add_column("note")
        for run in status.runs:
            runs.add_row(
                run.run_id,
                f"{run.started_at:%Y-%m-%d %H:%M:%S}",
                f"{run.finished_at:%H:%M:%S}" if run.finished_at else "",
                run.outcome,
                *(
                    str(value) if value is not None else ""
                    for value in (
                        run.files_seen,
                        run.rows_read,
                        run.rows_loaded,
                        run.rows_quarantined,
                    )
                ),
                run.message or "",
            )
        console.print(runs)
    published = status.published
    if published is None:
        console.print(f"Published: nothing ({status.published_unavailable})")
        return
    console.print(
        f"Published: {published.analytics_file} (release {published.release}, "
        f"modified {published.modified_at:%Y-%m-%d %H:%M:%S} UTC)"
    )
    tables = Table()
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for name, rows in published.tables.items():
        tables.add_row(name, str(rows))
    console.print(tables)
    console.print("Dashboard pages: " + (", ".join(published.pages) or "none"))


def _schedule(arguments: argparse.Namespace) -> int:
    from resilience.runtime import configure_prefect

    settings = load_settings(arguments.config)
    configure_prefect(settings)
    from prefect.settings import get_current_settings

    if get_current_settings().api.url is None:
        print(
            "resilience schedule: failed: no Prefect server: start one ('prefect server start') "
            "and set PREFECT_API_URL, e.g. http://127.0.0.1:4200/api",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from flows.deployments import serve_nightly

    schedule = settings.schedule
    print(
        f"serving nightly/{schedule.deployment}: '{schedule.cron}' in {schedule.timezone}, "
        "until stopped (stopping pauses the schedule)",
        file=sys.stderr,
    )
    serve_nightly(settings, Path(arguments.config or DEFAULT_CONFIG))
    return EXIT_OK


def _export_png(arguments: argparse.Namespace) -> int:
    from resilience.export_png import export_leadership_pngs

    settings = load_settings(arguments.config)
    out_dir = arguments.out or settings.paths.out / "board-pack"
    for path in export_leadership_pngs(
        settings.analytics_path, out_dir, settings.privacy.min_group_size
    ):
        print(path)
    return EXIT_OK


def _export_tables(arguments: argparse.Namespace) -> int:
    from resilience.published import export_tables

    settings = load_settings(arguments.config)
    out_dir = arguments.out or settings.paths.out / "exported-tables" / arguments.file_format
    for path in export_tables(settings.analytics_path, out_dir, arguments.file_format):
        print(path)
    return EXIT_OK


def _validate(arguments: argparse.Namespace) -> int:
    from resilience.instruments import load_registry
    from resilience.pipeline import validate_file

    settings = load_settings(arguments.config, roster=arguments.roster)
    file_report, cells = validate_file(arguments.file, settings, load_registry())
    outcome = {"loaded": "would load", "held_back": "would be held back"}.get(
        file_report.status, "cannot be read"
    )
    counts = {
        "rows read": file_report.rows_read,
        "previews, tests, spam dropped": file_report.rows_dropped_status,
        "repeated within the file (counted once)": file_report.rows_already_loaded,
        "quarantined": file_report.rows_quarantined,
        "would load": file_report.rows_loaded,
    }
    if arguments.json:
        print(
            json.dumps(
                {
                    "file": file_report.file_name,
                    "outcome": outcome,
                    "reason": file_report.reason,
                    "counts": counts,
                    "quarantined": [
                        {"row": row, "column": column, "rule": rule, "value": value}
                        for row, column, rule, value in cells
                    ],
                },
                indent=2,
            )
        )
    else:
        print(f"{file_report.file_name}: {outcome}")
        if file_report.reason:
            print(f"  why: {file_report.reason}")
        for name, count in counts.items():
            print(f"  {name}: {count}")
        if cells:
            print("quarantined cells (row, column, rule, value):")
            for row, column, rule, value in cells:
                print(f"  {'file' if row is None else row}\t{column or '-'}\t{rule}\t{value}")
    return EXIT_OK if file_report.status == "loaded" else EXIT_FAILED


def exit_code_for(error: Exception) -> int:
    """What a scheduler should make of a failure: try again later (3, 4), fix the configuration
    (2), or look at the failed run (1)."""
    from pydantic import ValidationError

    from resilience.status import ExportsNotReady, RunInProgress

    if isinstance(error, RunInProgress):
        return EXIT_BUSY
    if isinstance(error, ExportsNotReady):
        return EXIT_NOT_READY
    if isinstance(error, ValidationError):
        return EXIT_USAGE
    return EXIT_FAILED


COMMANDS = {
    "run": _run,
    "sample": _sample,
    "inspect": _inspect,
    "status": _status,
    "schedule": _schedule,
    "export-png": _export_png,
    "export-tables": _export_tables,
    "validate": _validate,
}


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        return COMMANDS[arguments.command](arguments)
    except KeyboardInterrupt:
        print("resilience: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the one-line reason a scheduler shows; details in the logs
        from resilience.status import one_line

        print(f"resilience {arguments.command}: failed: {one_line(error)}", file=sys.stderr)
        return exit_code_for(error)


if __name__ == "__main__":
    sys.exit(main())
