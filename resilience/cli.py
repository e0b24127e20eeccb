"""`resilience`: the command line of the staff-resilience survey pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from resilience.settings import load_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


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
            "Turn anonymous staff-resilience survey exports (ProQOL 5, Copenhagen Burnout "
            "Inventory, Brief Resilience Scale, stimulant-work context items) into team "
            "indicators that protect respondents' anonymity, and offline dashboards."
        ),
        epilog="Run 'resilience COMMAND --help' for the options of one command.",
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
    return parser


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
    )
    table = Table(title="Nightly run", show_header=False)
    for name, value in summary_lines(report):
        table.add_row(name, value)
    Console().print(table)
    for file_report in report.files:
        if file_report.status == "quarantined":
            print(f"quarantined: {file_report.reason}", file=sys.stderr)
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
    print(f"wrote sample data to {arguments.out}: {summary}")
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


COMMANDS = {"run": _run, "sample": _sample, "inspect": _inspect}


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        return COMMANDS[arguments.command](arguments)
    except KeyboardInterrupt:
        print("resilience: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the one-line reason a scheduler shows; details in the logs
        print(f"resilience {arguments.command}: failed: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
