"""Wall time and peak resident memory of a block of work."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


@dataclass
class Measurement:
    name: str
    seconds: float = 0.0
    peak_rss_bytes: int = 0

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_bytes / 2**20


@contextmanager
def measured(name: str, interval: float = 0.005) -> Iterator[Measurement]:
    """Time the block and sample this process's RSS while it runs (the peak is what counts)."""
    measurement = Measurement(name, peak_rss_bytes=resident_bytes())
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            measurement.peak_rss_bytes = max(measurement.peak_rss_bytes, resident_bytes())
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
