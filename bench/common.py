"""What every part of the benchmark shares: the paths (the release binaries that
bench/run.sh builds, bench/data/ for the fleet, bench/out/ for reports), logging, and
running commands, the helper `examples/bench_floor` included. Every child process is
recorded in CHILDREN so that an exit or a signal stops it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / "data"
OUT = BENCH / "out"
# cargo's target directory: CARGO_TARGET_DIR when set (bench/run.sh builds there too).
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
TTPGRAPH = TARGET / "release" / "ttpgraph"
HELPER = TARGET / "release" / "examples" / "bench_floor"
# DECNET's own repository code (bench/decnet/run.py) runs in this venv, which bench/run.sh
# creates from bench/decnet/requirements.txt.
DECNET_VENV = BENCH / ".venv-decnet"
DECNET_PYTHON = DECNET_VENV / "bin" / "python"
DECNET_HARNESS = BENCH / "decnet" / "run.py"
DECNET_REQUIREMENTS = BENCH / "decnet" / "requirements.txt"

CHILDREN: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(msg, flush=True)


def show_cmd(cmd: list[str], env_extra: dict[str, str] | None = None) -> None:
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env_extra or {}).items())
    log(f"  $ {env + ' ' if env else ''}{shlex.join(str(c) for c in cmd)}")


def kill_children() -> None:
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout=10)
            except Exception:  # noqa: BLE001 - best effort on the way out
                p.kill()


def on_signal(signum, _frame):
    kill_children()
    sys.exit(128 + signum)


def run(cmd: list[str], *, env_extra=None, capture=True, check=True, quiet=False) -> subprocess.CompletedProcess:
    if not quiet:
        show_cmd(cmd, env_extra)
    env = dict(os.environ, **(env_extra or {}))
    p = subprocess.run([str(c) for c in cmd], env=env, text=True, capture_output=capture)
    if check and p.returncode != 0:
        sys.stderr.write(p.stdout or "")
        sys.stderr.write(p.stderr or "")
        raise SystemExit(f"command failed ({p.returncode}): {shlex.join(str(c) for c in cmd)}")
    return p


def helper(args: list[str], quiet=False) -> dict | list:
    p = run([HELPER, *args], quiet=quiet)
    return json.loads(p.stdout)
