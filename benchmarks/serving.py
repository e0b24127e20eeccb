"""`python -m benchmarks.serving [--config F] [--clients 20] [--requests 10000]`: `resilience
serve` under load, with a publish in the middle.

Serves a copy of the release that the configuration publishes (hard links, in a scratch folder:
the real output folder is not touched; run `make run` first), signs in `--clients` clients, one
account per role in turn, and has them request the pages their role opens (plotly.js revalidated
with its ETag, as a browser does) until `--requests` requests have been made. Half-way through, a
second release, in which every page differs, is published the way a run publishes one. Every
answer is checked against the release it says it came from (`X-Release`): its body must be that
release's file, byte for byte (the index names its release). Prints the server errors, the pages
from two releases or neither (both must be 0), the answers per release, and latency percentiles.
Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from resilience.access import Catalogue, may_open, read_catalogue
from resilience.settings import Settings, load_settings
from resilience.warehouse import current_release, publish_release
from tests.site_server import (
    ACCOUNTS,
    Site,
    add_accounts,
    make_site_project,
    running_site,
)

SHARED_ASSET = "plotly.min.js"
SERVE_SETTINGS = "[serve]\nmax_failed_logins_per_address = 1000\n"


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    releases: Counter = field(default_factory=Counter)
    mixed: list[str] = field(default_factory=list)
    made: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def second_release(settings: Settings, first: str) -> str:
    """A copy of release `first` in which every HTML page differs (a comment naming it), made
    beside it as a run makes a release; its name."""
    name = f"{first}-benchmark"
    source, target = settings.releases_dir / first, settings.releases_dir / name
    shutil.copytree(source, target, copy_function=os.link)
    for page in (target / settings.dashboards_dir.name).rglob("*.html"):
        content = page.read_bytes()
        page.unlink()  # the copy's own file: the first release keeps its page
        page.write_bytes(content + f"<!-- release {name} -->\n".encode())
    return name


def page_digests(settings: Settings, release: str) -> dict[str, str]:
    dashboards = settings.releases_dir / release / settings.dashboards_dir.name
    return {
        "/" + path.relative_to(dashboards).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in dashboards.rglob("*")
        if path.is_file()
    }


def client_paths(username: str, catalogue: Catalogue) -> list[str]:
    """What this account opens: the index, its pages, and the shared plotly.js."""
    grant = ACCOUNTS[username]
    candidates = [
        "",
        "leadership.html",
        "validation.html",
        *(team.page for team in catalogue.teams),
        SHARED_ASSET,
    ]
    return ["/" + path for path in candidates if may_open(grant, path, catalogue)]


def run_client(
    site: Site,
    username: str,
    paths: list[str],
    digests: dict[str, dict[str, str]],
    total: int,
    tally: Tally,
) -> None:
    etags: dict[str, str] = {}
    with site.signed_in(username) as client:
        turn = 0
        while True:
            with tally.lock:
                if tally.made >= total:
                    return
                tally.made += 1
            path = paths[turn % len(paths)]
            turn += 1
            headers = {"if-none-match": etags[path]} if path in etags else {}
            started = time.perf_counter()
            answer = client.get(path, headers=headers)
            elapsed = time.perf_counter() - started
            release = answer.headers.get("x-release")
            if path.endswith(SHARED_ASSET) and "etag" in answer.headers:
                etags[path] = answer.headers["etag"]
            problem = _mixed(path, answer, release, digests)
            with tally.lock:
                tally.latencies.append(elapsed)
                tally.statuses[answer.status_code] += 1
                tally.releases[str(release)] += 1
                if problem:
                    tally.mixed.append(f"{username} {path}: {problem}")


def _mixed(
    path: str, answer: httpx.Response, release: str | None, digests: dict[str, dict[str, str]]
) -> str | None:
    if answer.status_code == 304:
        return None
    if path == "/":
        named = [name for name in digests if f"Release {name}." in answer.text]
        return None if named == [release] else f"the index of {release} names {named}"
    if release not in digests:
        return f"unknown release {release!r}"
    if hashlib.sha256(answer.content).hexdigest() != digests[release].get(path):
        return f"the body is not release {release}'s file"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__)
    parser.add_argument(
        "--config",
        type=Path,
        help="configuration whose published release is served (default: resilience.toml)",
    )
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default: 20)")
    parser.add_argument(
        "--requests", type=int, default=10_000, help="requests in all (default: 10000)"
    )
    arguments = parser.parse_args(argv)
    published = load_settings(arguments.config)
    if current_release(published) is None:
        parser.exit(2, f"nothing is published under {published.paths.out}: run 'make run' first\n")
    with tempfile.TemporaryDirectory(prefix="serving-benchmark-") as scratch:
        settings = make_site_project(Path(scratch), published, SERVE_SETTINGS)
        add_accounts(settings)
        first = str(current_release(settings))
        second = second_release(settings, first)
        digests = {name: page_digests(settings, name) for name in (first, second)}
        catalogue = read_catalogue(
            first, settings.releases_dir / first, "analytics.duckdb", "dashboards"
        )
        usernames = [name for name in ACCOUNTS if client_paths(name, catalogue)[1:]]
        tally = Tally()
        with running_site(settings) as site:
            clients = [
                threading.Thread(
                    target=run_client,
                    args=(
                        site,
                        usernames[number % len(usernames)],
                        client_paths(usernames[number % len(usernames)], catalogue),
                        digests,
                        arguments.requests,
                        tally,
                    ),
                )
                for number in range(arguments.clients)
            ]
            started = time.perf_counter()
            for client in clients:
                client.start()
            while tally.made < arguments.requests // 2:
                time.sleep(0.01)
            publish_release(settings, second)
            published_at = tally.made
            for client in clients:
                client.join()
            wall = time.perf_counter() - started
    server_errors = sum(count for status, count in tally.statuses.items() if status >= 500)
    latencies = sorted(tally.latencies)
    percentile = statistics.quantiles(latencies, n=100)
    print(
        f"{len(latencies)} requests by {arguments.clients} signed-in clients in {wall:.1f} s "
        f"({len(latencies) / wall:.0f}/s)"
    )
    print(f"published release {second} after request {published_at}")
    print(
        "answers: "
        + ", ".join(f"{status}: {count}" for status, count in sorted(tally.statuses.items()))
    )
    print(
        "by release: "
        + ", ".join(f"{name}: {count}" for name, count in sorted(tally.releases.items()))
    )
    print(f"server errors: {server_errors}")
    print(f"pages from two releases or neither: {len(tally.mixed)}")
    for problem in tally.mixed[:10]:
        print(f"  {problem}")
    print(
        f"latency ms: p50 {percentile[49] * 1000:.1f}, p95 {percentile[94] * 1000:.1f}, "
        f"p99 {percentile[98] * 1000:.1f}, max {latencies[-1] * 1000:.1f}"
    )
    failed = server_errors or tally.mixed or not (tally.releases[first] and tally.releases[second])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
