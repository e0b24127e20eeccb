"""`resilience`: the command line of the staff-resilience survey pipeline."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from resilience.settings import (
    DEFAULT_CONFIG,
    UsageError,
    display_path,
    load_settings,
    require_run_inputs,
)

if TYPE_CHECKING:
    from resilience.pipeline import RunReport
    from resilience.settings import Settings
    from resilience.site import ReadingRules
    from resilience.status import Status

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 3
EXIT_NOT_READY = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_CODES_HELP = """\
exit codes, for a scheduler to act on (the reason is the last line of standard error):
  0    success
  1    the command failed (a run is recorded as failed, with the same reason)
  2    bad command line or configuration, or a file or folder it names is missing
  3    another run holds the output folder: try again later
  4    the exports folder could not be read, even after retries: try again later
  130  interrupted (SIGINT, Ctrl-C): stopped within seconds, nothing published after it
  143  terminated (SIGTERM): stopped within seconds, nothing published after it

Run 'resilience COMMAND --help' for the options of one command."""


# File statuses that a person must act on: the file is not loaded until something changes.
NEEDS_ATTENTION = ("quarantined", "held_back", "needs_attention")
# The roles of `resilience.access.Role`, spelled here so that `--help` needs no import.
ROLE_NAMES = ("leader", "unit_lead", "manager", "survey_administrator", "analyst")
CONFIG_HELP = "configuration file (default: resilience.toml in the project folder)"


class _Parser(argparse.ArgumentParser):
    """Answers a usage error in one line, naming where the help is, and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _at_least(minimum: int, why: str = "") -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}{why}")
        return value

    return parse


def _add_reading_options(parser: argparse.ArgumentParser) -> None:
    """The site inputs that decide how an export is read: every command that reads one takes
    them, so that `run`, `validate` and `inspect` read a file alike."""
    parser.add_argument(
        "--roster",
        type=Path,
        metavar="FILE",
        help="roster CSV: teams (id, name, optional aliases) and headcount per wave "
        "(default: paths.roster)",
    )
    parser.add_argument(
        "--mappings",
        type=Path,
        metavar="DIR",
        help="folder of mapping TOML files, one per survey source (default: paths.mappings)",
    )
    parser.add_argument(
        "--waves",
        type=Path,
        metavar="FILE",
        help="fieldwork windows CSV 'wave,opens,closes': a response without a wave column is in "
        "the window holding its date (default: paths.waves, and [quality.waves])",
    )
    parser.add_argument(
        "--actions",
        type=Path,
        metavar="FILE",
        help="leaders' action log CSV 'team_id,date,action'; actions of teams not on the roster "
        "are reported and not published (default: paths.actions)",
    )


def _add_path_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    parser.add_argument(
        "--exports",
        type=Path,
        metavar="DIR",
        help="folder of survey exports to ingest (default: paths.exports of the configuration)",
    )
    _add_reading_options(parser)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder for the warehouse, analytics file and dashboards (default: paths.out)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    run.add_argument(
        "--rebuild-from-archive",
        action="store_true",
        help=(
            "first build a missing warehouse again from the archives (<paths.out>/archive), run by "
            "run, as the exports were loaded, not from the exports left in the folder; needs the "
            "salt that keyed them (default: off; a run stops when the warehouse is missing while "
            "releases exist)"
        ),
    )

    sample = commands.add_parser(
        "sample",
        help="write realistic, deterministic sample exports and a roster",
        description=(
            "Write Qualtrics-format sample exports (one per wave), a roster and a column mapping "
            "generated from a latent model of stimulant-work exposure. The same arguments always "
            "give the same files."
        ),
    )
    sample.add_argument(
        "--responses",
        type=_at_least(1),
        default=3000,
        metavar="N",
        help="genuine responses across all waves, at least 5 per team per wave (default: 3000)",
    )
    sample.add_argument(
        "--teams",
        type=_at_least(4, ": a worsening, an improving and a small team are planted"),
        default=40,
        metavar="T",
        help="number of teams, at least 4 (default: 40)",
    )
    sample.add_argument(
        "--waves",
        type=_at_least(2, ": trends are planted across waves"),
        default=3,
        metavar="W",
        help="number of survey waves, at least 2 (default: 3)",
    )
    sample.add_argument("--seed", type=int, default=20251, help="random seed (default: 20251)")
    sample.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder to write into"
    )

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
    inspect.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=CONFIG_HELP + "; its mappings, roster and wave windows are used",
    )
    _add_reading_options(inspect)
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_status_command(commands)
    _add_schedule_command(commands)
    _add_export_png_command(commands)
    _add_export_tables_command(commands)
    _add_validate_command(commands)
    _add_init_command(commands)
    _add_map_command(commands)
    _add_survey_kit_command(commands)
    _add_rotate_salt_command(commands)
    verify = commands.add_parser(
        "verify",
        help="check that every loaded export's archive is there, unchanged",
        description=(
            "Check every loaded export's archive (<paths.out>/archive): that it exists and holds "
            "the bytes it was written with (its SHA-256, recorded when it was written). Every run "
            "does the same before it reads an export, and fails when one is missing or changed. "
            "Prints one line per problem; exits 1 when there is any. Waits for a running run."
        ),
    )
    verify.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    _add_serve_commands(commands)
    for command_parser in commands.choices.values():
        # So that an unknown option is answered by the command it was given to.
        command_parser.set_defaults(command_parser=command_parser)
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
    status.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    status.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder of the runs to show (default: paths.out)",
    )
    status.add_argument(
        "--runs",
        type=_at_least(1),
        default=10,
        metavar="N",
        help="how many runs to list (default: 10)",
    )
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
    schedule.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)


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
    export_png.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    export_png.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder for the images (default: board-pack in paths.out)",
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
        metavar="FILE",
        help=CONFIG_HELP + "; its mappings, roster, wave windows and held-back share are used",
    )
    _add_reading_options(validate)
    validate.add_argument("--json", action="store_true", help="print JSON instead of text")


def _add_init_command(commands: argparse._SubParsersAction) -> None:
    init = commands.add_parser(
        "init",
        help="start a site folder: configuration, empty exports and mappings, templates",
        description=(
            "Write a site folder: resilience.toml with every path inside the folder, empty "
            "exports/ and mappings/ folders, roster.csv and waves.csv templates (headers only), "
            "and an empty action log. Nothing is overwritten: an existing configuration stops it. "
            "Next: put an export in exports/, draft its mapping with 'resilience map', fill in "
            "the roster and waves, and run 'resilience run --config DIR/resilience.toml'."
        ),
    )
    init.add_argument("directory", type=Path, metavar="DIR", help="the site folder (made if new)")


def _add_map_command(commands: argparse._SubParsersAction) -> None:
    draft = commands.add_parser(
        "map",
        help="draft a mapping for an export whose columns are not canonical ids",
        description=(
            "Read an export and propose its mapping: the blocks of item columns whose size and "
            "answers fit an instrument (in order), the team column (values naming roster teams "
            "by id, name or alias) and the date that places responses in waves. The draft is a "
            "commented TOML file saying what each block matched, how sure it is and what to "
            "check; a block it cannot place is listed, never guessed. Nothing is loaded."
        ),
    )
    draft.add_argument("file", type=Path, help="the export file")
    draft.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    draft.add_argument(
        "--roster",
        type=Path,
        metavar="FILE",
        help="roster CSV whose team ids, names and aliases find the team column "
        "(default: paths.roster)",
    )
    draft.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write the draft here, e.g. mappings/NAME.toml; NAME becomes the source "
        "(default: print it)",
    )


def _map(arguments: argparse.Namespace) -> int:
    settings = load_settings(arguments.config, roster=arguments.roster)
    _require_export(arguments.file)
    if arguments.out is not None and arguments.out.exists():
        raise UsageError(f"{display_path(arguments.out)} exists already: nothing was written")
    from resilience.instruments import load_registry
    from resilience.mapping_draft import draft_mapping, draft_summary, draft_toml
    from resilience.site import read_team_keys

    roster = settings.paths.roster
    if arguments.roster is not None and not roster.is_file():
        raise UsageError(f"roster not found: {display_path(roster)}")
    draft = draft_mapping(
        arguments.file,
        load_registry(),
        read_team_keys(roster) if roster.is_file() else {},
        name=arguments.out.stem if arguments.out else None,
    )
    text = draft_toml(draft)
    if arguments.out is None:
        print(text, end="")
        return EXIT_OK
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(text, encoding="utf-8")
    print(f"wrote {display_path(arguments.out)}")
    for line in draft_summary(draft):
        print(f"  {line}")
    return EXIT_OK


def _add_survey_kit_command(commands: argparse._SubParsersAction) -> None:
    from datetime import date

    kit = commands.add_parser(
        "survey-kit",
        help="write a survey definition a survey tool imports, whose exports need no mapping",
        description=(
            "Write the staff-resilience survey for a survey tool to import: a REDCap data "
            "dictionary, a Qualtrics Advanced Format TXT, a LimeSurvey tab-separated survey "
            "structure, or a plain CSV template. Variable names are the canonical item ids and "
            "answer codes the instruments' own wherever the tool's format can carry them; where "
            "it cannot, the kit also writes the matching mapping (mappings/). Item wording is a "
            "placeholder naming the item: enter the official wording from your licensed copy."
        ),
    )
    kit.add_argument(
        "--tool",
        choices=("redcap", "qualtrics", "limesurvey", "csv"),
        required=True,
        help="the survey tool: redcap, qualtrics, limesurvey or csv",
    )
    kit.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write into")
    this_month = f"{date.today():%Y-%m}"
    kit.add_argument(
        "--wave",
        default=this_month,
        help=f"the wave REDCap's hidden wave field records (default: this month, {this_month})",
    )


def _survey_kit(arguments: argparse.Namespace) -> int:
    from resilience.instruments import load_registry
    from resilience.survey_kit import write_kit

    for path in write_kit(arguments.tool, arguments.out, load_registry(), arguments.wave):
        print(display_path(path))
    return EXIT_OK


def _init(arguments: argparse.Namespace) -> int:
    from resilience.site_folder import create_site

    for path in create_site(arguments.directory):
        print(display_path(path) + ("/" if path.is_dir() else ""))
    return EXIT_OK


def _add_rotate_salt_command(commands: argparse._SubParsersAction) -> None:
    rotate = commands.add_parser(
        "rotate-salt",
        help="re-key every stored response from the salt in use to a new one",
        description=(
            "Replace the salt that turns source response ids into response keys (after a leak, "
            "say). Every export in the exports folder is read with the old and the new salt, and "
            "every stored response and archive is re-keyed in one transaction; published numbers "
            "do not change. Refused, changing nothing, while a stored response is in no export "
            "of the folder. A salt kept in the state folder is replaced there; a configured salt "
            "needs --new-salt-file, and then goes where the configured one is. Holds the run lock."
        ),
    )
    rotate.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    rotate.add_argument(
        "--new-salt-file",
        type=Path,
        metavar="FILE",
        help="file holding the new salt (default: a new random salt in the state folder)",
    )


def _verify(arguments: argparse.Namespace) -> int:
    import duckdb

    from resilience.integrity import archive_problems
    from resilience.status import hold_run_lock

    settings = load_settings(arguments.config)
    if not settings.warehouse_path.exists():
        raise UsageError(f"no warehouse: {display_path(settings.warehouse_path)}")
    with (
        hold_run_lock(settings.run_lock_path, "verify"),
        duckdb.connect(str(settings.warehouse_path), read_only=True) as con,
    ):
        problems = archive_problems(con, settings)
        [(archives,)] = con.execute(
            "select count(*) from raw_files where status = 'loaded'"
        ).fetchall()
    for problem in problems:
        print(problem)
    print(f"{archives - len(problems)} of {archives} archives intact")
    return EXIT_FAILED if problems else EXIT_OK


def _rotate_salt(arguments: argparse.Namespace) -> int:
    from resilience.instruments import load_registry
    from resilience.salt_rotation import rotate_salt

    settings = load_settings(arguments.config)
    rotation = rotate_salt(settings, load_registry(), arguments.new_salt_file)
    print(
        f"re-keyed {rotation.responses} responses and {rotation.archives} archived exports "
        f"from {rotation.exports_read} exports; the new salt is in "
        f"{display_path(rotation.new_salt_file)}: back it up, and destroy the old salt"
    )


def _add_serve_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the published dashboards with sign-in and per-team access",
        description=(
            "Serve the published release (<paths.out>/current) over HTTP: each person signs in "
            "(a local account from 'resilience users', or single sign-on when [serve.oidc] is "
            "set) and opens only the pages their role allows. A new release is served as soon "
            "as it is published. Every request is recorded in the audit log "
            "('resilience audit'). Put a TLS reverse proxy in front of it (docs/serving.md)."
        ),
    )
    serve.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=_at_least(1), default=8080, help="port to listen on (default: 8080)"
    )
    serve.add_argument(
        "--proxy-headers",
        action="store_true",
        help=(
            "trust X-Forwarded-For and X-Forwarded-Proto from the reverse proxy at 127.0.0.1 "
            "(or FORWARDED_ALLOW_IPS) for the client's address and https (default: off)"
        ),
    )

    users = commands.add_parser(
        "users",
        help="add, remove or list the local accounts of 'resilience serve'",
        description=(
            "Local accounts for 'resilience serve', kept in the private state folder "
            "(<paths.state>/serve/accounts.sqlite), never in a release; passwords are stored "
            "as argon2 hashes. Roles: leader (every page), unit_lead (the teams of --unit: a "
            "parent unit or service line), manager (the teams of --team), "
            "survey_administrator (validation report and run status), analyst (download of "
            "the published analytics file)."
        ),
    )
    actions = users.add_subparsers(dest="users_action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add an account (the password is asked for, or read from standard input)",
        description="Add a local account with its roles, teams and units.",
    )
    add.add_argument("username", help="the name to sign in with")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        choices=ROLE_NAMES,
        help="a role; repeat for several (required)",
    )
    add.add_argument(
        "--team",
        action="append",
        default=[],
        metavar="TEAM_ID",
        help="a managed team's id; repeat for several (default: none)",
    )
    add.add_argument(
        "--unit",
        action="append",
        default=[],
        metavar="NAME",
        help=(
            "a parent unit or service line a unit lead leads, as the roster spells it; repeat "
            "for several (default: none)"
        ),
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (default: ask twice)",
    )
    add.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    remove = actions.add_parser(
        "remove",
        help="remove an account and end its sessions",
        description="Remove a local account; its open sessions end at once.",
    )
    remove.add_argument("username")
    remove.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    listing = actions.add_parser(
        "list", help="list the accounts", description="List the local accounts and their roles."
    )
    listing.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    for action_parser in actions.choices.values():
        action_parser.set_defaults(command_parser=action_parser)

    audit = commands.add_parser(
        "audit",
        help="show the audit log of 'resilience serve': pages served, requests refused",
        description=(
            "Show who opened or was refused what, and when, newest first: the events each run "
            "has moved into the warehouse (read only when no run holds it) and those the server "
            "recorded since, in its journal in the state folder."
        ),
    )
    audit.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    audit.add_argument(
        "--days", type=_at_least(1), default=7, help="how many days back (default: 7)"
    )
    audit.add_argument(
        "--user", metavar="NAME", help="only this user's requests (default: everyone's)"
    )
    audit.add_argument(
        "--refused", action="store_true", help="only requests answered 4xx or 5xx (default: all)"
    )
    audit.add_argument(
        "--limit", type=_at_least(1), default=100, help="at most this many events (default: 100)"
    )
    audit.add_argument("--json", action="store_true", help="print JSON instead of lines")


def _serve(arguments: argparse.Namespace) -> int:
    from resilience.serving import serve

    settings = load_settings(arguments.config)
    print(
        f"serving {display_path(settings.current_release)} on "
        f"http://{arguments.host}:{arguments.port}/ until stopped",
        file=sys.stderr,
    )
    serve(settings, arguments.host, arguments.port, arguments.proxy_headers)
    return EXIT_OK


def _users(arguments: argparse.Namespace) -> int:
    from resilience.access import Grant
    from resilience.accounts import ACCOUNTS_FILE, AccountError, AccountStore

    settings = load_settings(arguments.config)
    if arguments.users_action != "add" and not (settings.serve_state_dir / ACCOUNTS_FILE).exists():
        # Listing or removing writes nothing, not even an empty accounts file.
        if arguments.users_action == "remove":
            raise UsageError(f"no user {arguments.username.casefold()}: there are no accounts")
        print("no accounts yet: add one with 'resilience users add'")
        return EXIT_OK
    store = AccountStore(settings.serve_state_dir)
    try:
        if arguments.users_action == "add":
            password = _new_password(arguments.password_stdin)
            grant = Grant.of(arguments.role, arguments.team, arguments.unit)
            account = store.add_user(arguments.username, password, grant)
            print(f"added {account.username}: {account.grant.describe()}")
        elif arguments.users_action == "remove":
            store.remove_user(arguments.username)
            print(f"removed {arguments.username.casefold()}")
        else:
            accounts = store.users()
            for account in accounts:
                print(f"{account.username}\t{account.grant.describe()}\t{account.created_at}")
            if not accounts:
                print("no accounts yet: add one with 'resilience users add'")
    except AccountError as error:
        raise UsageError(str(error)) from None
    finally:
        store.close()
    return EXIT_OK


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        raise UsageError("the two passwords differ")
    return password


def _audit(arguments: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    import duckdb

    from resilience.audit import read_audit
    from resilience.status import one_line, shared_run_lock

    settings = load_settings(arguments.config)
    since = datetime.now(UTC) - timedelta(days=arguments.days)
    query = {"since": since, "username": arguments.user, "refused_only": arguments.refused}
    with shared_run_lock(settings.run_lock_path) as holder:
        warehouse = None
        if holder is not None:
            print(
                "a run holds the warehouse: showing the events not yet moved into it",
                file=sys.stderr,
            )
        elif settings.warehouse_path.exists():
            try:
                warehouse = duckdb.connect(str(settings.warehouse_path), read_only=True)
            except duckdb.Error as error:
                print(
                    f"the warehouse cannot be read ({one_line(error)}): showing the events not "
                    "yet moved into it",
                    file=sys.stderr,
                )
        try:
            events = read_audit(warehouse, settings.serve_state_dir, limit=arguments.limit, **query)
        finally:
            if warehouse is not None:
                warehouse.close()
    if arguments.json:
        print(json.dumps([asdict(event) for event in events], indent=2, default=str))
        return EXIT_OK
    if not events:
        print(f"no events in the last {arguments.days} day(s)")
    for event in events:
        print(
            f"{event.occurred_at:%Y-%m-%d %H:%M:%S}  {event.status}  {event.outcome:<14}  "
            f"{event.username or '-':<20}  {event.address or '-':<15}  {event.method:<5} "
            f"{event.path}" + (f"  ({event.detail})" if event.detail else "")
        )
    return EXIT_OK


def _run(arguments: argparse.Namespace) -> int:
    from resilience.runtime import stop_on_signals

    # From here on, SIGTERM and SIGINT stop the run, its Prefect server and its helpers.
    with stop_on_signals("resilience run"):
        return _run_once(arguments)


def _run_once(arguments: argparse.Namespace) -> int:
    from resilience.runtime import configure_prefect, prefect_api, startup_timeout_seconds
    from resilience.salt import check_salt_before_run

    settings = load_settings(
        arguments.config,
        exports=arguments.exports,
        roster=arguments.roster,
        out=arguments.out,
        **_reading_paths(arguments),
    )
    require_run_inputs(settings)
    if arguments.rebuild_from_archive:
        _rebuild_from_archive(settings)
    else:
        from resilience.integrity import require_warehouse

        # A lost warehouse is refused here, in one line, before Prefect starts.
        require_warehouse(settings)
    # A salt the warehouse would refuse is refused here, in one line, before Prefect starts.
    check_salt_before_run(settings)
    configure_prefect(settings)
    with prefect_api(settings) as temporary_server:
        # Imported while a temporary Prefect server boots in its own process.
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from flows.nightly import nightly

        api = {}
        if temporary_server is not None:
            temporary_server.wait_until_ready(startup_timeout_seconds())
            api = {PREFECT_API_URL: temporary_server.api_url}
        with temporary_settings(updates=api):
            report = nightly(
                config=str(arguments.config) if arguments.config else None,
                exports=str(arguments.exports) if arguments.exports else None,
                roster=str(arguments.roster) if arguments.roster else None,
                out=str(arguments.out) if arguments.out else None,
                mappings=str(arguments.mappings) if arguments.mappings else None,
                waves=str(arguments.waves) if arguments.waves else None,
                actions=str(arguments.actions) if arguments.actions else None,
                progress=sys.stderr.isatty(),
            )
    _print_run_summary(report)
    return EXIT_OK


def _rebuild_from_archive(settings: Settings) -> None:
    from resilience.instruments import load_registry
    from resilience.rebuild import rebuild_warehouse

    rebuilt = rebuild_warehouse(settings, load_registry())
    print(
        f"rebuilt {display_path(settings.warehouse_path)}: {rebuilt.responses} responses from "
        f"{rebuilt.archives} archived export(s) of {rebuilt.runs} run(s)"
    )


def _print_run_summary(report: RunReport) -> None:
    from rich.console import Console
    from rich.table import Table

    from resilience.report import summary_lines

    table = Table(title="Nightly run", show_header=False)
    for name, value in summary_lines(report):
        table.add_row(name, value)
    Console().print(table)
    from resilience.rules import attention_fix

    for file_report in report.files:
        if file_report.status == "waiting":
            print(f"waiting: {file_report.reason}", file=sys.stderr)
        elif file_report.status in NEEDS_ATTENTION:
            print(f"needs attention: {file_report.reason}", file=sys.stderr)
            print(f"  fix: {attention_fix(file_report.reason)}", file=sys.stderr)


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


def _reading_paths(arguments: argparse.Namespace) -> dict[str, Path | None]:
    return {"mappings": arguments.mappings, "waves": arguments.waves, "actions": arguments.actions}


def _off_roster_actions(settings: Settings, rules: ReadingRules) -> dict[str, int]:
    from resilience.site import actions_off_roster

    return actions_off_roster(settings.paths.actions, set(rules.team_keys.values()))


def _inspect(arguments: argparse.Namespace) -> int:
    settings = load_settings(arguments.config, roster=arguments.roster, **_reading_paths(arguments))
    _require_export(arguments.file)
    from resilience.formats import load_mappings
    from resilience.inspection import inspect_export, inspection_text
    from resilience.instruments import load_registry
    from resilience.site import reading_rules

    rules = reading_rules(settings)
    result = inspect_export(
        arguments.file, load_mappings(settings.paths.mappings), load_registry(), rules
    )
    result["actions_off_roster"] = off_roster = _off_roster_actions(settings, rules)
    if arguments.json:
        print(json.dumps(result, indent=2))
    else:
        print(inspection_text(result))
        print(_off_roster_line(off_roster), end="")
    return EXIT_OK if not result["problems"] else EXIT_FAILED


def _require_export(path: Path) -> None:
    if not path.is_file():
        raise UsageError(f"export file not found: {display_path(path)}")


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
    """Plain lines that fit 80 columns: a run per line with its numbers, and under it the run's
    id, files and note, wrapped."""
    import shutil
    import textwrap

    width = min(shutil.get_terminal_size().columns, 100)
    if status.running is not None:
        running = status.running
        print(f"Run in progress: {running.run_id} (pid {running.pid}, since {running.started_at})")
    else:
        print("No run in progress.")
    print()
    if status.runs_unavailable:
        print(f"Last runs: {status.runs_unavailable}")
    else:
        print(f"{'Last runs (UTC)':<32}{'outcome':<12}{'read':>8}{'loaded':>8}{'quarantined':>13}")
        for run in status.runs:
            finished = f" - {run.finished_at:%H:%M:%S}" if run.finished_at else ""
            counts = (
                "" if value is None else str(value)
                for value in (run.rows_read, run.rows_loaded, run.rows_quarantined)
            )
            read, loaded, quarantined = counts
            print(
                f"{f'{run.started_at:%Y-%m-%d %H:%M:%S}{finished}':<32}{run.outcome:<12}"
                f"{read:>8}{loaded:>8}{quarantined:>13}"
            )
            files = "" if run.files_seen is None else f", {run.files_seen} file(s) seen"
            detail = f"run {run.run_id}{files}" + (f": {run.message}" if run.message else "")
            print(textwrap.fill(detail, width, initial_indent="  ", subsequent_indent="    "))
    if status.removed_exports:
        print()
        removed = (
            f"Removed after loading: {len(status.removed_exports)} export(s) are no longer in "
            f"the exports folder (their responses stay loaded; the archive keeps them): "
            + ", ".join(status.removed_exports)
        )
        print(textwrap.fill(removed, width, subsequent_indent="  "))
    if status.replacements:
        print()
        print("Replaced by the newest export of their survey (in the last run that replaced any):")
        for replacement in status.replacements:
            replaced = (
                f"{replacement.file_name} replaces {', '.join(replacement.replaces)} "
                f"({replacement.rows_deleted} response(s) it no longer holds removed)"
            )
            print(textwrap.fill(replaced, width, initial_indent="  ", subsequent_indent="    "))
    print()
    if status.needs_attention:
        print("Needs attention (not loaded; read again when what it is read with changes):")
        for file in status.needs_attention:
            print(textwrap.fill(file.reason, width, initial_indent="  ", subsequent_indent="    "))
            print(
                textwrap.fill(
                    f"fix: {file.fix}", width, initial_indent="    ", subsequent_indent="      "
                )
            )
        print()
    published = status.published
    if published is None:
        print(f"Published: nothing ({status.published_unavailable})")
        return
    print(
        textwrap.fill(
            f"Published: {display_path(published.analytics_file)} (release "
            f"{published.release}, written {published.modified_at:%Y-%m-%d %H:%M:%S} UTC)",
            width,
            subsequent_indent="  ",
        )
    )
    name_width = max((len(name) for name in published.tables), default=5)
    for name, rows in published.tables.items():
        print(f"  {name:<{name_width}}  {rows:>9} rows")
    print("Dashboard pages: " + (", ".join(published.pages) or "none"))


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
    settings = load_settings(arguments.config, roster=arguments.roster, **_reading_paths(arguments))
    _require_export(arguments.file)
    if not settings.paths.roster.is_file():
        raise UsageError(f"roster not found: {display_path(settings.paths.roster)}")
    from resilience.instruments import load_registry
    from resilience.pipeline import validate_file
    from resilience.site import reading_rules

    file_report, cells = validate_file(arguments.file, settings, load_registry())
    off_roster = _off_roster_actions(settings, reading_rules(settings))
    # A file recognised as an export but blocked (no team column, say) was read: `inspect`
    # shows its rows. Only a file with no recognised format cannot be read.
    outcome = {
        "loaded": "would load",
        "held_back": "would be held back",
        "quarantined": "cannot be loaded" if file_report.format else "cannot be read",
    }.get(file_report.status, file_report.status)
    counts = {
        "rows read": file_report.rows_read,
        "previews, tests, spam dropped": file_report.rows_dropped_status,
        "repeated (counted once)": file_report.rows_repeated,
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
                    "actions_off_roster": off_roster,
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
        print(_off_roster_line(off_roster), end="")
    return EXIT_OK if file_report.status == "loaded" else EXIT_FAILED


def _off_roster_line(off_roster: dict[str, int]) -> str:
    if not off_roster:
        return ""
    teams = ", ".join(f"{team} ({count})" for team, count in off_roster.items())
    return f"actions not published, their teams are not on the roster: {teams}\n"


def exit_code_for(error: Exception) -> int:
    """What a scheduler should make of a failure: try again later (3, 4), fix the configuration
    (2), or look at the failed run (1)."""
    from pydantic import ValidationError

    from resilience.status import ExportsNotReady, RunInProgress

    if isinstance(error, RunInProgress):
        return EXIT_BUSY
    if isinstance(error, ExportsNotReady):
        return EXIT_NOT_READY
    if isinstance(error, (ValidationError, UsageError)):
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
    "init": _init,
    "map": _map,
    "survey-kit": _survey_kit,
    "rotate-salt": _rotate_salt,
    "verify": _verify,
    "serve": _serve,
    "users": _users,
    "audit": _audit,
}


def main(argv: list[str] | None = None) -> int:
    # Output piped into `head` that stops reading ends the command quietly, as for other tools.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    arguments, unknown = build_parser().parse_known_args(argv)
    if unknown:
        arguments.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return COMMANDS[arguments.command](arguments)
    except UsageError as error:
        print(f"resilience {arguments.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("resilience: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the one-line reason a scheduler shows; details in the logs
        from resilience.status import one_line

        print(f"resilience {arguments.command}: failed: {one_line(error)}", file=sys.stderr)
        return exit_code_for(error)


if __name__ == "__main__":
    sys.exit(main())
