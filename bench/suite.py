"""One dialect's run, step by step (the order BENCHMARKS.md describes): fleet, migrate,
ids, ready time, each operation with its floor, writes, cleanup, report files."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from common import DECNET_HARNESS, DECNET_PYTHON, OUT, ROOT, TTPGRAPH, helper, log, run
from fleet import database_url, ensure_fleet, ensure_ids
from measure import floor_op, http_op
from operations import insert_operation, operations
from report import report
from sampling import find_pid
from server import Server, free_port


# The operations DECNET's repository has (its fleet export is `export`); no page, no writes.
DECNET_OPS = ("identity_median", "identity_max", "attacker", "session", "campaign", "fleet", "inspector", "export")


def decnet_run(dialect: str, url: str, ids_path: Path, out_dir: Path, a) -> dict | None:
    """DECNET's own TTPMixin on the same database and ids, in-process in its venv
    (bench/decnet/run.py); its results go to <out>/decnet.json and into the report."""
    ops = [o for o in DECNET_OPS if not a.ops or o in a.ops.split(",")]
    if not ops:
        return None
    out = out_dir / "decnet.json"
    log(f"\n[{dialect}] DECNET's own repository code, in-process: {', '.join(ops)}")
    t0 = time.perf_counter()
    run([DECNET_PYTHON, DECNET_HARNESS, "--database-url", url, "--ids", ids_path, "--ops", ",".join(ops),
         "--duration", f"{a.decnet_duration:g}", "--min-calls", str(a.decnet_min_calls),
         "--concurrency", str(a.concurrency), "--out", out], capture=False)
    log(f"  DECNET took {time.perf_counter() - t0:.0f} s; results in {out.relative_to(ROOT)}")
    return json.loads(out.read_text())


def bench_dialect(dialect: str, a) -> Path:
    stamp_time = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = OUT / f"{stamp_time}-{dialect}"
    out_dir.mkdir(parents=True, exist_ok=True)
    log(f"\n=== {dialect}: output in {out_dir.relative_to(ROOT)} ===")
    url = database_url(dialect, a)
    if dialect == "mysql" and not a.database_url:
        helper(["create-db", "--database-url", url])
    stamp = ensure_fleet(dialect, a)
    t0 = time.perf_counter()
    run([TTPGRAPH, "migrate", "--database-url", url], env_extra={"TTPGRAPH_LOG": "warn"})
    log(f"  migrate took {time.perf_counter() - t0:.2f} s (so the ready time below measures no migration)")
    ids, ids_path = ensure_ids(dialect, url, stamp, a.rotate)
    f = ids["fleet"]
    log(f"  fleet: {f['tags']:,} tags, {f['attackers']:,} attackers, {f['identities']:,} identities, "
        f"{f['campaigns']:,} campaigns, {f['sessions_with_tags']:,} sessions with tags; identity scope sizes "
        f"{f['identity_tag_counts']}")
    db_pid = None if dialect == "sqlite" else find_pid(("mariadbd", "mysqld"))
    nonce = f"{int(time.time())}"
    ctx = {"stamp": stamp, "ids": ids, "ops": [], "floors": {}, "store_inserts": [],
           "when": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
           "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
           "git": run(["git", "-C", ROOT, "describe", "--always", "--dirty"], quiet=True).stdout.strip()}

    port = free_port()
    server = Server(url, port, out_dir / "server.log", a)
    ready = []
    log(f"server: {a.ready_runs} timed starts")
    for i in range(a.ready_runs):
        ready.append(server.start(a.ready_timeout, quiet=i > 0))
        if i < a.ready_runs - 1:
            server.stop()
    log(f"  ready after {', '.join(f'{x * 1000:.0f}' for x in ready)} ms")
    ctx["ready"] = ready
    time.sleep(0.5)
    ctx["rss_idle"] = server.status().get("VmRSS", float("nan"))

    try:
        for op in operations(ids, a):
            log(f"\n[{dialect}] {op['name']}: {op['label']} ({op['scope']})")
            op["result"] = http_op(server, op, out_dir, db_pid, a, nonce)
            ctx["ops"].append(op)
            if op["floor"] and not a.no_floor:
                ctx["floors"][op["floor"]] = floor_op(
                    op["floor"], url, ids_path, a, (op["result"]["window_s"], op["result"]["warmup_s"]))
        reads = [o["result"]["rss_max_mib"] for o in ctx["ops"]]
        ctx["rss_reads"] = max(reads) if reads else float("nan")
        if not a.no_decnet:
            ctx["decnet"] = decnet_run(dialect, url, ids_path, out_dir, a)
        if not a.no_floor and (not a.ops or "export" in a.ops.split(",")):
            log(f"\n[{dialect}] export rollup, store only (one caller)")
            r = helper(["floor", "--database-url", url, "--ids", str(ids_path), "--ops", "export",
                        "--concurrency", "1", "--duration", f"{a.duration:g}", "--warmup", "0"])[0]
            log(f"  → {r['calls']} calls, p50 {r['p50_ms']:.0f} ms")
            ctx["floors"]["export"] = r
        writes = not a.database_url or a.allow_writes
        if writes and (not a.ops or "insert_tags" in a.ops.split(",")):
            op = insert_operation(a)
            log(f"\n[{dialect}] insert_tags: {op['label']}")
            op["result"] = http_op(server, op, out_dir, db_pid, a, nonce)
            ctx["ops"].append(op)
            ctx["rss_insert"] = op["result"]["rss_max_mib"]
            for batch, writers in ((a.insert_batch, a.concurrency), (500, 1), (5000, 1)):
                log(f"\n[{dialect}] store insert_tags, batch {batch}, {writers} writer(s)")
                s = helper(["insert", "--database-url", url, "--batch", str(batch), "--concurrency", str(writers),
                            "--duration", f"{a.insert_duration:g}", "--max-tags", str(a.insert_max_tags),
                            "--nonce", f"{nonce}-{batch}-{writers}"])
                log(f"  → {s['tags_per_s']:,.0f} tags/s ({s['inserted']:,} tags in {s['seconds']:.1f} s), "
                    f"errors {s['errors']}")
                ctx["store_inserts"].append(s)
                if batch == a.insert_batch and writers == a.concurrency:
                    ctx["floors"]["insert_tags"] = s
        ctx.setdefault("rss_insert", float("nan"))
        end = server.status()
        ctx["hwm"] = end.get("VmHWM", float("nan"))
        ctx["end_status"] = ", ".join(f"{k} {v:.1f} MiB" for k, v in end.items())
        ctx["anon_max"] = max([o["result"]["anon_max_mib"] for o in ctx["ops"]] or [float("nan")])
    finally:
        server.stop()
        log("\ncleanup: deleting the benchmark's tags")
        ctx["cleanup"] = helper(["cleanup", "--database-url", url])
        log(f"  deleted {ctx['cleanup']['deleted']:,} in {ctx['cleanup']['seconds']:.1f} s")

    md = report(dialect, ctx, a)
    path = OUT / f"{stamp_time}-{dialect}.md"
    path.write_text(md)
    (out_dir / "results.json").write_text(json.dumps(
        {k: v for k, v in ctx.items() if k != "ops"} | {"dialect": dialect, "args": vars(a)} | {"ops": [
            {k: v for k, v in o.items() if k not in ("bodies", "template")} for o in ctx["ops"]]},
        indent=2, default=str) + "\n")
    log("\n" + md)
    log(f"written to {path.relative_to(ROOT)}")
    return path
