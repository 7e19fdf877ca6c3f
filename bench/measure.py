"""Measuring one operation: its sanity requests, wrk runs in a window sized to its
latency with the server left to go idle around them, and the store+SQL floor."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

from common import BENCH, helper, log, run
from sampling import Probe, cpu_seconds
from server import Server, graphql_requests, sql_statements

LUA = BENCH / "wrk" / "graphql.lua"

WRK_RUNS = [0]


def run_wrk(server: Server, env: dict, seconds: float, a, quiet=False, connections=None) -> dict:
    WRK_RUNS[0] += 1
    env = dict(env, BENCH_NONCE=f"{env.get('BENCH_NONCE', '0')}-{WRK_RUNS[0]}")
    connections = connections or a.concurrency
    threads = max(1, min(a.wrk_threads, connections))
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "60s",
           "-s", str(LUA), f"http://127.0.0.1:{server.port}/graphql"]
    p = run(cmd, env_extra=env, quiet=quiet)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if not line:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit("FAILED: wrk printed no BENCH_JSON line")
    r = json.loads(line[len("BENCH_JSON "):])
    r["errors"] = (r["gql_errors"] + r["no_data"] + r["bad_status"] + r["unexpected"]
                   + r["socket_errors"] + r["timeouts"])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    if r["requests"] == 0:
        r["p50_us"] = r["p90_us"] = r["p99_us"] = float("nan")
    return r


def sanity(server: Server, op: dict, samples: list[str]) -> dict:
    """Requests one at a time, nothing else running: every body is good, and the
    statements they cost (the SQL counter of /metrics before and after, divided by the
    requests made)."""
    before = sql_statements(server.metrics())
    sizes, wire, lat, rows = [], [], [], None
    started = time.perf_counter()
    for sample in samples:
        if lat and time.perf_counter() - started > 5:
            break  # slow operations: a few requests tell enough
        t0 = time.perf_counter()
        status, data, on_wire = server.post_encoded(sample, bool(op.get("gzip")))
        lat.append(time.perf_counter() - t0)
        text = data.decode(errors="replace")
        if status != 200 or '"errors"' in text or '"data"' not in text or (op["expect"] not in text):
            raise SystemExit(f"FAILED: {op['name']}: the sanity request failed (HTTP {status}): {text[:600]}")
        sizes.append(len(data))
        wire.append(on_wire)
        if rows is None and op.get("rows"):
            rows = text.count(op["rows"])  # the answer for the first id
    after = sql_statements(server.metrics())
    return {"statements": (after - before) / len(lat), "requests": len(lat), "rows_first": rows,
            "bytes": int(statistics.median(sizes)), "wire_bytes": int(statistics.median(wire)),
            "wire_min": min(wire), "latency_s": statistics.median(lat)}


def drain(server: Server, db_pid: int | None, settle: float) -> str:
    """Waits until the server (and the database server) are idle: requests that wrk cut
    off at its deadline keep running (a statement outlives its dropped future and holds
    a pooled connection), and must not eat into the next window. Idle = the SQL counter
    did not move and the server and DB processes used under 5 % of a core for `settle`
    seconds. Gives up after 180 s (the shared MariaDB may be busy with other work)."""
    last = server.metrics()
    deadline = time.perf_counter() + 180
    pids = [server.proc.pid] + ([db_pid] if db_pid else [])
    while time.perf_counter() < deadline:
        c0 = sum(cpu_seconds(p) for p in pids)
        time.sleep(settle)
        used = (sum(cpu_seconds(p) for p in pids) - c0) / settle
        now = server.metrics()
        if sql_statements(now) == sql_statements(last) and used < 0.05:
            return now
        last = now
    log("  warning: the server or the database did not go idle within 180 s")
    return last


def http_op(server: Server, op: dict, out_dir: Path, db_pid, a, nonce: str) -> dict:
    env = {"BENCH_EXPECT": op["expect"], "BENCH_NONCE": nonce}
    if op.get("template"):
        tpl = out_dir / f"{op['name']}.template.json"
        tpl.write_text(op["template"])
        env["BENCH_INSERT_TEMPLATE"] = str(tpl)
        samples = [op["template"].replace("@@P@@", f"{nonce}-sanity")]
    else:
        f = out_dir / f"{op['name']}.bodies.jsonl"
        f.write_text("\n".join(op["bodies"]) + "\n")
        env["BENCH_BODIES"] = str(f)
        samples = op["bodies"][: a.probe_requests]
    probe = sanity(server, op, samples)
    if op.get("gzip"):
        # wrk cannot decompress: it checks the encoding and that each answer is at least
        # half the smallest good one (an error answer is a few hundred bytes).
        env["BENCH_ACCEPT_ENCODING"] = "gzip"
        env["BENCH_MIN_BYTES"] = str(probe["wire_min"] // 2)
    duration, warmup = op_window(probe["latency_s"], a)
    if duration != a.duration:
        log(f"  one request alone takes {probe['latency_s'] * 1000:.0f} ms: measuring for {duration} s, "
            f"warm-up {warmup} s")
    settle = 0.5
    m0 = drain(server, db_pid, settle)
    if warmup > 0:
        run_wrk(server, env, warmup, a, quiet=True)
        m0 = drain(server, db_pid, settle)
    with Probe(server, db_pid) as pr:
        r = run_wrk(server, env, duration, a)
    m1 = drain(server, db_pid, settle)
    # "Alone" as a p50 like DECNET's one-caller figure: one connection rotating over the
    # same bodies, after the loaded window (so warm). The sanity probe above is each body
    # once, cold. Writes (insert templates) are left out: they would add rows.
    alone = None
    if not op.get("template") and a.alone_duration > 0:
        alone = run_wrk(server, env, a.alone_duration, a, quiet=True, connections=1)
        drain(server, db_pid, settle)
    served = graphql_requests(m1, op["opname"]) - graphql_requests(m0, op["opname"])
    stmts = sql_statements(m1) - sql_statements(m0)
    # The table's figure is the exact one from requests made one at a time; the figure
    # under load (statements / requests the server counted) is a cross-check: a request
    # cut off at wrk's deadline may have sent statements without being counted.
    r["sql_per_request"] = probe["statements"]
    r["sql_per_request_load"] = stmts / served if served else float("nan")
    r["served"] = served
    r["probe_requests"] = probe["requests"]
    r["response_bytes"] = probe["bytes"]
    r["wire_bytes"] = probe["wire_bytes"]
    r["rows_first"] = probe["rows_first"]
    r["window_s"], r["warmup_s"] = duration, warmup
    r["single_ms"] = probe["latency_s"] * 1000
    r["alone_p50_ms"] = alone["p50_us"] / 1000 if alone and alone["requests"] else None
    r["alone_rps"] = alone["rps"] if alone else None
    r.update(pr.result)
    fail = f"  first failure: {r['first_failure']}" if r["errors"] else ""
    alone_txt = f", alone p50 {r['alone_p50_ms']:.2f} ms" if r["alone_p50_ms"] is not None else ""
    log(f"  → {r['rps']:.1f} req/s, p50 {r['p50_us'] / 1000:.2f} ms, p99 {r['p99_us'] / 1000:.2f} ms{alone_txt}, "
        f"errors {r['errors']}, SQL/request {r['sql_per_request']:.2f} ({r['sql_per_request_load']:.2f} under load), server {r['server_cores']:.2f} cores, "
        f"wrk {r['children_cores']:.2f} cores, RSS max {r['rss_max_mib']:.1f} MiB "
        f"(anonymous {r['anon_max_mib']:.1f} MiB){fail}")
    return r


def op_window(single_s: float, a) -> tuple[int, int]:
    """Measured and warm-up seconds for an operation whose single request takes
    `single_s`. With `concurrency` callers on this machine's cores a request takes about
    single × concurrency / cores; the window is stretched (up to --max-duration) so that
    every caller completes a few requests, and a warm-up that could not complete one is
    skipped (it would only leave requests running into the measured window)."""
    loaded = single_s * a.concurrency / max(1, os.cpu_count() or 1)
    duration = a.duration
    if 4 * loaded > a.duration:
        duration = max(a.duration, min(a.max_duration, int(4 * loaded + 0.999)))
    warmup = a.warmup if loaded <= a.warmup else 0
    return duration, warmup


def floor_op(name: str, url: str, ids_path: Path, a, window: tuple[int, int]) -> dict:
    r = helper(["floor", "--database-url", url, "--ids", str(ids_path), "--ops", name,
                "--concurrency", str(a.concurrency), "--duration", str(window[0]),
                "--warmup", str(window[1])])[0]
    log(f"  → floor: {r['rps']:.1f} calls/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
        f"errors {r['errors']}")
    if r["errors"]:
        log(f"    first error: {r['first_error']}")
    return r
