"""`python -m benchmarks.commands`: how long the command line takes to answer, as a user types it.

Times each command in a fresh process (the median of --repeat runs): `--help`, `inspect --help`,
`status` after a run, a usage error, and a nightly run with nothing new to load, once with the
temporary Prefect server every run starts by default and once against a long-lived Prefect server
named by PREFECT_API_URL (docs/operations.md, "A long-lived Prefect server"). The run figures are
its start-up: with nothing new, the pipeline's own work is a few checksums.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.__main__ import write_config
from resilience.runtime import TemporaryPrefectServer, configure_prefect
from resilience.sample import generate_sample
from resilience.settings import load_settings


def command_seconds(arguments: list[str], env: dict[str, str], repeat: int) -> float:
    """The median wall time of `resilience ARGUMENTS` in a fresh process."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "resilience", *arguments],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.commands", description=__doc__)
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs of each command, the median kept (default: 5)"
    )
    parser.add_argument(
        "--responses", type=int, default=3000, help="responses in the site (default: 3000)"
    )
    arguments = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="resilience-commands-"))
    server = None
    try:
        generate_sample(work / "inputs", responses=arguments.responses, teams=40, waves=3, seed=7)
        config = str(write_config(work))
        settings = load_settings(Path(config))
        env = {name: value for name, value in os.environ.items() if name != "PREFECT_API_URL"}
        subprocess.run(
            [sys.executable, "-m", "resilience", "run", "--config", config],
            env=env,
            check=True,
            capture_output=True,
        )
        export = str(next(settings.paths.exports.glob("*.csv")))
        results = {
            "resilience --help": command_seconds(["--help"], env, arguments.repeat),
            "resilience inspect --help": command_seconds(
                ["inspect", "--help"], env, arguments.repeat
            ),
            "resilience inspect EXPORT": command_seconds(
                ["inspect", "--config", config, export], env, arguments.repeat
            ),
            "resilience status": command_seconds(
                ["status", "--config", config], env, arguments.repeat
            ),
            "usage error (missing exports folder)": command_seconds(
                ["run", "--config", config, "--exports", str(work / "missing")],
                env,
                arguments.repeat,
            ),
            "run, nothing new, temporary Prefect server": command_seconds(
                ["run", "--config", config], env, arguments.repeat
            ),
        }
        # The same server a run starts for itself, kept running across the runs.
        configure_prefect(settings)
        server = TemporaryPrefectServer(work / "prefect-server.log")
        server.wait_until_ready(timeout_seconds=90)
        long_lived = {**env, "PREFECT_API_URL": server.api_url}
        results["run, nothing new, long-lived Prefect server"] = command_seconds(
            ["run", "--config", config], long_lived, arguments.repeat
        )
        width = max(len(name) for name in results)
        print(f"\nmedian of {arguments.repeat} runs, {arguments.responses:,} responses loaded")
        for name, seconds in results.items():
            print(f"  {name:<{width}}  {seconds:6.2f} s")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
