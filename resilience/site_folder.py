"""`resilience init DIR`: a folder of a site's own, ready for its first export.

Everything a run reads lives in the folder and the configuration points only into it: nothing of
the committed sample is read, and nothing of the site is written outside it.
"""

from __future__ import annotations

from pathlib import Path

from resilience.settings import UsageError, display_path

SITE_CONFIG = """\
# Configuration of this site's staff-resilience survey pipeline, written by 'resilience init'.
# Relative paths are resolved against this file's folder. Run it with
#   resilience run --config {config}
# Any value can be overridden by an environment variable RESILIENCE_<SECTION>__<KEY>.

[paths]
exports = "exports"      # put the survey tool's exports here (CSV, TSV, TXT or XLSX)
mappings = "mappings"    # one mapping per survey source: 'resilience map' drafts them
roster = "roster.csv"    # one row per team per wave: team_id, team_name, ..., aliases (';')
waves = "waves.csv"      # fieldwork windows (wave, opens, closes): a response's wave is the
                         # window holding its recorded date, when the export has no wave column
actions = "actions.csv"  # leaders' action log: team_id, date, action
out = "build"            # warehouse, published analytics file, dashboards, archive
state = ".state"         # private run state: Prefect's home and the generated salt

[privacy]
# No published number describes fewer respondents than this (never below 3).
min_group_size = 5
"""

TEMPLATES = {
    "roster.csv": "team_id,team_name,service_line,parent_unit,wave,headcount,aliases\n",
    "waves.csv": "wave,opens,closes\n",
    "actions.csv": "team_id,date,action\n",
}
FOLDERS = ("exports", "mappings")


def create_site(directory: Path) -> list[Path]:
    """Write a site folder into `directory` (made if needed); return what was written. Raises
    UsageError when the folder already holds a site's configuration."""
    config = directory / "resilience.toml"
    if config.exists():
        raise UsageError(f"{display_path(config)} exists already: nothing was changed")
    clashing = [directory / name for name in (*TEMPLATES, *FOLDERS) if (directory / name).exists()]
    if clashing:
        raise UsageError(f"{display_path(clashing[0])} exists already: nothing was changed")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for folder in FOLDERS:
        (directory / folder).mkdir()
        written.append(directory / folder)
    for name, header in TEMPLATES.items():
        (directory / name).write_text(header, encoding="utf-8")
        written.append(directory / name)
    config.write_text(SITE_CONFIG.format(config=display_path(config)), encoding="utf-8")
    written.append(config)
    return written
