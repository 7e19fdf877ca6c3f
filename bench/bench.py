#!/usr/bin/env python3
"""The ttpgraph benchmark (run it through bench/run.sh; see BENCHMARKS.md).

Per dialect: build (or reuse) a deterministic 1M-tag fleet with `ttpgraph demo`, pick the
ids to query, start the release server and time it to /readyz, drive every operation
over loopback with wrk at fixed concurrency (checking every body), time the same store
methods without HTTP/GraphQL (the floor) right after each operation, call DECNET's own
repository code with the same ids on the same database, measure inserts, clean up what
the benchmark wrote, and print/write one markdown report.

Standard library only (DECNET's code runs in bench/.venv-decnet, which bench/run.sh makes).
"""

from __future__ import annotations

# The entry point: options, signals, then one run per dialect. The parts, beside this file:
#   common.py      paths, logging, commands, the bench_floor helper, child processes
#   fleet.py       building/reusing the fleet and its stamp, picking the ids
#   server.py      the server under test: start, ready time, /proc status, /metrics
#   sampling.py    CPU and RSS of the server, the database and the machine (Probe)
#   operations.py  what is sent: graphql/<OperationName>.graphql and the bodies built from ids
#   measure.py     one operation: sanity requests, wrk runs, idle waits, the floor
#   decnet/        DECNET's own TTP repository code, run in-process on the same database (run.py)
#   report.py      the markdown report, DECNET's figures and the targets
#   suite.py       one dialect's run, step by step

import argparse
import atexit
import json
import os
import signal
import sys
from pathlib import Path

from common import (DATA, DECNET_PYTHON, DECNET_REQUIREMENTS, DECNET_VENV, HELPER, OUT, ROOT, TTPGRAPH,
                    kill_children, log, on_signal)
from report import report
from suite import bench_dialect


def main() -> None:
    p = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dialect", nargs="?", default="all", choices=["sqlite", "mysql", "all"])
    p.add_argument("--rebuild", action="store_true", help="rebuild the fleet even when the stamp matches")
    p.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 10)),
                   help="measured seconds per operation, whole seconds as wrk wants (default 10)")
    p.add_argument("--warmup", type=int, default=int(os.environ.get("BENCH_WARMUP", 2)),
                   help="unmeasured seconds before each operation, 0 for none (default 2)")
    p.add_argument("--max-duration", type=int, default=120,
                   help="longest measured window of a slow operation (default 120 s)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--ops", default=os.environ.get("BENCH_OPS", ""),
                   help="comma-separated subset (identity_median, identity_max, attacker, session, campaign, "
                        "fleet, inspector, attackers_page, attackers_page_1, attackers_page_gzip, "
                        "attackers_page_1_gzip, typename, export, insert_tags)")
    p.add_argument("--no-floor", action="store_true", help="skip the store+SQL floor")
    p.add_argument("--no-decnet", action="store_true",
                   help="do not run DECNET's own repository code (bench/decnet/run.py) after the reads; the "
                        "report then compares with the figures of issue 5, labelled as such")
    p.add_argument("--decnet-duration", type=float, default=5.0,
                   help="DECNET: seconds per measured window, one caller and --concurrency callers (default 5)")
    p.add_argument("--decnet-min-calls", type=int, default=5,
                   help="DECNET: a slow operation's window goes on until this many calls (default 5)")
    p.add_argument("--rotate", type=int, default=50, help="ids to rotate over where the benchmark rotates")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--attackers", type=int, default=30_000)
    p.add_argument("--tags", type=int, default=1_000_000)
    p.add_argument("--demo-batch", type=int, default=5_000)
    p.add_argument("--shape", default="decnet", choices=["decnet", "demo"],
                   help="the fleet's shape (`ttpgraph demo --shape`): decnet (default; DECNET's reference "
                        "shape: identities of hundreds of attackers, re-clustering) or demo (the original fleet)")
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                   help="benchmark this existing DECNET database instead of a generated fleet (its dialect "
                        "follows from the URL; it is migrated, and only read unless --allow-writes)")
    p.add_argument("--allow-writes", action="store_true",
                   help="with --database-url: also run the insert operations (their tags are deleted at the end)")
    p.add_argument("--mysql-url", default=os.environ.get("BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/ttpbench"))
    p.add_argument("--insert-batch", type=int, default=500)
    p.add_argument("--insert-duration", type=float, default=10.0, help="seconds per store insert run (at most)")
    p.add_argument("--insert-max-tags", type=int, default=200_000, help="tags per store insert run (at most)")
    p.add_argument("--max-body-bytes", type=int, default=64 * 1024,
                   help="the server's body limit for reads (its default; in open mode the caller is "
                        "an admin, whose 4 MiB write limit admits a 500-tag insertTags)")
    p.add_argument("--response-cache-mib", type=int, default=0,
                   help="the server's response cache (its default is 16 MiB). 0 here: the "
                        "operations rotate over a few ids, so a cache would answer them from memory and "
                        "the run would measure the cache, not the computation (BENCHMARKS.md compares both)")
    p.add_argument("--report", metavar="RESULTS_JSON", help="only re-render the report of an earlier run")
    p.add_argument("--ready-runs", type=int, default=5)
    p.add_argument("--alone-duration", type=float, default=3.0,
                   help="seconds of one connection per read operation, for its p50 alone (0: skip)")
    p.add_argument("--probe-requests", type=int, default=10,
                   help="sequential requests per operation that check bodies and count statements")
    p.add_argument("--ready-timeout", type=float, default=60.0)
    a = p.parse_args()
    if a.duration < 1 or a.warmup < 0:
        p.error("--duration must be at least 1 and --warmup at least 0")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    atexit.register(kill_children)
    if a.report:
        # Re-render a report from a run's results.json (e.g. after changing the report).
        ctx = json.loads(Path(a.report).read_text())
        dialect = ctx.get("dialect") or ("mysql" if "-mysql" in a.report else "sqlite")
        saved = argparse.Namespace(**(ctx.get("args") or vars(a)))
        sys.stdout.write(report(dialect, ctx, saved))
        return
    DATA.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    for f in (TTPGRAPH, HELPER):
        if not f.exists():
            raise SystemExit(f"FAILED: {f} is missing: run bench/run.sh, which builds it")
    installed = DECNET_VENV / "requirements.txt"
    if not a.no_decnet and not (DECNET_PYTHON.exists() and installed.exists()
                                and installed.read_bytes() == DECNET_REQUIREMENTS.read_bytes()):
        raise SystemExit(f"FAILED: {DECNET_VENV} is missing or not up to date: bench/run.sh creates it from "
                         f"{DECNET_REQUIREMENTS.relative_to(ROOT)} (or pass --no-decnet for the figures of issue 5)")
    if a.database_url:
        dialect = "mysql" if a.database_url.lower().startswith(("mysql:", "mariadb:")) else "sqlite"
        if a.dialect not in ("all", dialect):
            p.error(f"--database-url is a {dialect} database, but {a.dialect} was asked for")
        a.dialect = dialect
    dialects = ["sqlite", "mysql"] if a.dialect == "all" else [a.dialect]
    written = [bench_dialect(d, a) for d in dialects]
    log("\nreports: " + ", ".join(str(w.relative_to(ROOT)) for w in written))


if __name__ == "__main__":
    main()
