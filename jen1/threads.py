"""Intra-op threads that follow the machine's load, so a busy machine does not stall sampling.

torch's OpenMP threads wait for each other at the end of every parallel operation. When other
programs keep the cores busy, one of jen1's threads is often descheduled, and the others spin
at the barrier until it runs again: each operation then takes a scheduler time slice instead of
microseconds, and sampling slows down many times over. Running on as many threads as there are
cores the *other* programs leave free avoids the wait, and on an idle machine changes nothing.

:class:`ThreadGovernor` measures that free share from ``/proc/stat`` (busy CPU time of the
cores this process may run on, less this process's own CPU time) and sets ``torch``'s thread
count before a model's forward, at most every :attr:`ThreadGovernor.interval` seconds. Linux
only; elsewhere it leaves the threads alone.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

Snapshot = tuple[float, float, float]  # (monotonic time, busy CPU seconds, own CPU seconds)

# /proc/stat columns (after the cpu name) that are CPU time spent working.
_USER, _NICE, _SYSTEM, _IDLE, _IOWAIT, _IRQ, _SOFTIRQ, _STEAL = range(8)


def allowed_cpus() -> set[int]:
    """The CPUs this process may run on (its affinity mask; all CPUs where that is unknown)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def _busy_seconds(cpus: set[int], count_nice: bool) -> float | None:
    """CPU seconds spent working on ``cpus`` since boot (``None`` without /proc/stat).

    Time of niced processes counts only when this process is niced too: a normal-priority
    process takes the CPU from a niced one almost entirely (CFS weights 1024 against 15).
    """
    try:
        text = Path("/proc/stat").read_text()
    except OSError:
        return None
    ticks = 0
    for line in text.splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *cols = line.split()
        if int(name[3:]) not in cpus:
            continue
        v = [int(c) for c in cols[:8]] + [0] * (8 - len(cols[:8]))
        ticks += v[_USER] + v[_SYSTEM] + v[_IRQ] + v[_SOFTIRQ] + v[_STEAL]
        if count_nice:
            ticks += v[_NICE]
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


class ThreadGovernor:
    """Sets torch's intra-op threads to the cores other programs leave free (1 at least).

    Args:
        max_threads: the ceiling (default: torch's thread count when the governor is made, so
            ``jen1 --threads N`` stays a ceiling).
        interval: seconds between measurements; a longer gap since the last one (an idle
            server) is replaced by a fresh sample of ``sample`` seconds.
        sample: length of that fresh sample.
    """

    def __init__(
        self, max_threads: int | None = None, interval: float = 0.25, sample: float = 0.05
    ):
        import torch

        self.max_threads = max(1, max_threads or torch.get_num_threads())
        self.interval = interval
        self.sample = sample
        self.cpus = allowed_cpus()
        self._count_nice = _niceness() > 0
        self._lock = threading.Lock()
        self._last = self._snapshot()
        self.threads = self.max_threads
        self.enabled = True  # False: leave the thread count alone (benchmarks compare both)

    def _snapshot(self) -> Snapshot | None:
        busy = _busy_seconds(self.cpus, self._count_nice)
        return None if busy is None else (time.monotonic(), busy, _own_seconds())

    def free_cores(self, then: Snapshot, now: Snapshot) -> float:
        """Cores left free by other processes between two snapshots."""
        wall = max(now[0] - then[0], 1e-6)
        others = max(0.0, (now[1] - then[1]) - (now[2] - then[2])) / wall
        return max(0.0, len(self.cpus) - others)

    def update(self) -> int:
        """Measure (when due) and set the calling thread's torch thread count -> that count."""
        import torch

        if not self.enabled or self._last is None or self.max_threads == 1:
            return torch.get_num_threads()
        with self._lock:
            now = self._snapshot()
            if now is None:
                return self.threads
            age = now[0] - self._last[0]
            if age > 4 * self.interval + 1.0:  # stale (idle between requests): sample afresh
                time.sleep(self.sample)
                then, now = now, self._snapshot()
                if now is None:
                    return self.threads
            elif age >= self.interval:
                then = self._last
            else:
                then = None
            if then is not None:
                self._last = now
                free = self.free_cores(then, now)
                self.threads = int(min(self.max_threads, max(1, round(free))))
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        return self.threads

    def install(self, *modules: Any) -> None:
        """Update before every forward of ``modules`` (in the thread that runs the forward)."""
        for m in modules:
            m.register_forward_pre_hook(self._hook)

    def _hook(self, module: Any, args: Any) -> None:
        self.update()  # returns None: a pre-hook's return value would replace the inputs


def govern_pipeline(pipe: Any) -> ThreadGovernor | None:
    """On a CPU, a governor over a pipeline's U-Net, encoder and decoder (else ``None``)."""
    if pipe.device.type != "cpu":
        return None
    governor = ThreadGovernor()
    ae = pipe.autoencoder
    governor.install(pipe.unet, *(getattr(ae, n) for n in ("encoder", "decoder") if hasattr(ae, n)))
    return governor


def _niceness() -> int:
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (AttributeError, OSError):
        return 0
