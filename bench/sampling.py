"""CPU and memory while an operation runs: the server's, the database server's and the
whole machine's, read from /proc."""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path

from server import Server


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return float("nan")


def machine_ticks() -> tuple[int, int]:
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f), idle


def find_pid(names: tuple[str, ...]) -> int | None:
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() in names:
                    return int(d.name)
            except OSError:
                continue
    return None


class Probe:
    """Samples the server's RSS every 100 ms and CPU use of the server, the database
    server and the whole machine over one measured window."""

    def __init__(self, server: Server, db_pid: int | None):
        self.server, self.db_pid = server, db_pid
        self.rss_max = 0.0
        self.anon_max = 0.0
        self._stop = threading.Event()

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.srv0 = cpu_seconds(self.server.proc.pid)
        self.db0 = cpu_seconds(self.db_pid) if self.db_pid else float("nan")
        self.m0 = machine_ticks()
        self.ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            st = self.server.status()
            self.rss_max = max(self.rss_max, st.get("VmRSS", 0.0))
            self.anon_max = max(self.anon_max, st.get("RssAnon", 0.0))
            self._stop.wait(0.1)

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()
        wall = time.perf_counter() - self.t0
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        total, idle = machine_ticks()
        dt_total = total - self.m0[0]
        self.result = {
            "wall_s": wall,
            "server_cores": (cpu_seconds(self.server.proc.pid) - self.srv0) / wall,
            "db_cores": (cpu_seconds(self.db_pid) - self.db0) / wall if self.db_pid else None,
            "children_cores": ((ch.ru_utime + ch.ru_stime) - (self.ch0.ru_utime + self.ch0.ru_stime)) / wall,
            "machine_busy": 1.0 - (idle - self.m0[1]) / dt_total if dt_total else float("nan"),
            "rss_max_mib": self.rss_max,
            "anon_max_mib": self.anon_max,
        }
        return False
