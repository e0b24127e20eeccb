"""Wall time and peak resident memory of a block of work."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def resident_bytes(pids: list[int] | None = None) -> int:
    """The resident memory of this process and of `pids` (its children, such as the processes
    that help write team pages); a process that has ended counts nothing."""
    total = 0
    for pid in ["self", *(pids or [])]:
        try:
            with open(f"/proc/{pid}/statm") as statm:
                total += int(statm.read().split()[1]) * PAGE_BYTES
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def child_pids() -> list[int]:
    """The processes this one started (read from /proc: not every kernel lists a task's
    children directly)."""
    me, children = str(os.getpid()), []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                # The command name in parentheses may hold spaces: the fields after it are fixed.
                fields = stat.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[1] == me:
            children.append(int(entry.name))
    return children


@dataclass
class Measurement:
    name: str
    seconds: float = 0.0
    peak_rss_bytes: int = 0

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_bytes / 2**20


@contextmanager
def measured(name: str, interval: float = 0.005, children_every: int = 20) -> Iterator[Measurement]:
    """Time the block and sample the RSS of this process and its children while it runs (the
    peak of their sum is what counts); the children are looked for every `children_every`
    samples."""
    measurement = Measurement(name, peak_rss_bytes=resident_bytes())
    stop = threading.Event()

    def sample() -> None:
        children: list[int] = []
        samples = 0
        while not stop.is_set():
            if samples % children_every == 0:
                children = child_pids()
            samples += 1
            measurement.peak_rss_bytes = max(measurement.peak_rss_bytes, resident_bytes(children))
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        yield measurement
    finally:
        measurement.seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        measurement.peak_rss_bytes = max(measurement.peak_rss_bytes, resident_bytes())
