"""Where each page lives in a dashboards folder: light enough for the server to import without
the page writer's pandas and plotly."""

from __future__ import annotations

import hashlib
import re

INDEX_PAGE = "index.html"
LEADERSHIP_PAGE = "leadership.html"
TEAMS_FOLDER = "teams"
PLOTLY_BUNDLE = "plotly.min.js"
SAFE_FILE_STEM = re.compile(r"[A-Za-z0-9_-]{1,64}")


def team_page_path(team_id: str) -> str:
    """The team page's path relative to the index: teams/<team id>.html.

    An id that is not a plain file name (spaces, slashes, dots) is reduced to one and made unique
    with a hash, so no id can point a page outside the teams folder.
    """
    if SAFE_FILE_STEM.fullmatch(team_id):
        stem = team_id
    else:
        plain = re.sub(r"[^A-Za-z0-9_-]+", "-", team_id).strip("-")[:40]
        stem = f"{plain}-{hashlib.sha256(team_id.encode()).hexdigest()[:10]}".lstrip("-")
    return f"{TEAMS_FOLDER}/{stem}.html"
