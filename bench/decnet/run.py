#!/usr/bin/env python3
"""DECNET's own TTP repository, called in-process against the benchmark's database, so
that the report's DECNET column comes from the same run, fleet and ids as ttpgraph's
(issue 12).

What runs is DECNET's `TTPMixin` (decnet/web/db/sqlmodel_repo/ttp.py), rebuilt at run time
from the seed dump by seed.py and never copied into this repository; its imports are the
stand-ins under shim/ (DECNET's table classes, row models, `_MixinBase._session()`, the
ATT&CK name and URL look-ups). The engine is built as DECNET builds it: SQLite through
`sqlite+aiosqlite:///<path>` with `connect_args={"uri": True}` and SQLAlchemy's default
pool (DECNET sets none), MySQL/MariaDB through `mysql+asyncmy://` with DECNET's pool
(20 connections + 40 overflow, pre-ping, recycle 3600 s); sessions come from
`async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)`.

Per operation (the benchmark's ids, the same rotation): a warm-up (the first call, for
the first id, also gives the rows of DECNET's answer), then one caller alone for the
window (latency p50/p99 and calls/s), then `--concurrency` asyncio tasks on the one
engine for the window (calls/s, latency under load). A slow operation's window is
stretched until at least `--min-calls` calls are done; calls in flight at the deadline
are waited for and counted.

    bench/.venv-decnet/bin/python bench/decnet/run.py --database-url sqlite:///abs/fleet.db \\
        --ids bench/data/ids-sqlite.json [--out decnet.json] [--duration 5] [--ops fleet,inspector]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import importlib.metadata
import itertools
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "shim"))
sys.path.insert(1, str(HERE))

import seed  # noqa: E402 - after the path set-up above

from sqlalchemy.engine import URL  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine  # noqa: E402

# DECNET's MySQL pool (decnet/web/db/mysql/database.py: DECNET_DB_POOL_SIZE and friends).
MYSQL_POOL = {"pool_size": 20, "max_overflow": 40, "pool_recycle": 3600, "pool_pre_ping": True}

# operation → (DECNET's method, how the k-th call is made from the ids file, 16 callers?)
OPS = {
    "identity_median": ("list_techniques_by_identity", lambda r, ids, k: r.list_techniques_by_identity(
        rot(ids, "identity_median", k)), True),
    "identity_max": ("list_techniques_by_identity", lambda r, ids, k: r.list_techniques_by_identity(
        rot(ids, "identity_max", k)), True),
    "attacker": ("list_techniques_by_attacker", lambda r, ids, k: r.list_techniques_by_attacker(
        rot(ids, "attacker", k)), True),
    "session": ("list_techniques_by_session", lambda r, ids, k: r.list_techniques_by_session(
        rot(ids, "session", k)), True),
    "campaign": ("list_techniques_by_campaign", lambda r, ids, k: r.list_techniques_by_campaign(
        rot(ids, "campaign", k)), True),
    # GET /api/v1/ttp/techniques, DECNET's fleet view, returns repo.list_distinct_techniques().
    "fleet": ("list_distinct_techniques", lambda r, ids, k: r.list_distinct_techniques(), True),
    "inspector": ("list_tags_by_scope_and_technique", lambda r, ids, k: r.list_tags_by_scope_and_technique(
        scope="identity", uuid=ids["inspector"]["ids"][0], technique_id=ids["inspector"]["technique_id"],
        limit=200), True),
    # The fleet export's one query; like ttpgraph's export floor, one caller only.
    "export": ("get_all_ttp_rollups_for_export", lambda r, ids, k: r.get_all_ttp_rollups_for_export(), False),
}


def rot(ids: dict, key: str, k: int) -> str:
    v = ids[key]["ids"]
    return v[k % len(v)]


def rows(answer) -> int:
    """Rows in an answer: rollup rows, inspector rows, or the export's rollup rows."""
    if isinstance(answer, dict):
        return sum(len(v) for v in answer.values())
    return len(answer)


def engine_for(database_url: str):
    """(engine, description) for a ttpgraph database URL, as DECNET configures it."""
    u = urlsplit(database_url)
    scheme = u.scheme.lower()
    if scheme == "sqlite":
        path = unquote(database_url.split("?", 1)[0][len("sqlite:"):])
        path = path[2:] if path.startswith("//") else path  # sqlite:///abs and sqlite://rel
        path = str(Path(path).resolve())
        if not Path(path).exists():
            raise SystemExit(f"FAILED: no SQLite database at {path}")
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}", echo=False, connect_args={"uri": True})
        return engine, {"dialect": "sqlite", "driver": "aiosqlite", "url": f"sqlite+aiosqlite:///{path}",
                        "pool_note": "SQLAlchemy's default for a file database: DECNET sets no pool options"}
    if scheme in ("mysql", "mariadb"):
        url = URL.create("mysql+asyncmy", username=unquote(u.username or "") or None,
                         password=unquote(u.password) if u.password else None, host=u.hostname or "127.0.0.1",
                         port=u.port or 3306, database=u.path.lstrip("/") or None)
        engine = create_async_engine(url, echo=False, **MYSQL_POOL)
        return engine, {"dialect": "mysql", "driver": "asyncmy", "url": url.render_as_string(hide_password=True),
                        "pool_note": "DECNET's MySQL defaults, with pre-ping and a 3600 s recycle"}
    raise SystemExit(f"FAILED: unsupported database URL {database_url!r} (sqlite:// or mysql://)")


def repository(mod, engine):
    """DECNET's SQLModelRepository reduced to what the TTP mixin needs: the mixin of the
    loaded seed module over an engine and DECNET's session factory."""

    class Repository(mod.TTPMixin):
        def __init__(self) -> None:
            self.engine = engine
            self.session_factory = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    return Repository()


def pct(sorted_s: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted seconds, in ms."""
    if not sorted_s:
        return float("nan")
    return sorted_s[min(len(sorted_s) - 1, max(0, math.ceil(q * len(sorted_s)) - 1))] * 1000


async def phase(call, callers: int, duration: float, min_calls: int, first_k: int) -> dict:
    """`callers` closed-loop tasks calling until the deadline (and `min_calls` calls)."""
    lat: list[float] = []
    errors: list[str] = []
    counter = itertools.count(first_k)
    t0 = time.perf_counter()
    deadline = t0 + duration

    async def worker() -> None:
        while time.perf_counter() < deadline or len(lat) + len(errors) < min_calls:
            k = next(counter)
            s = time.perf_counter()
            try:
                await call(k)
            except Exception as e:  # noqa: BLE001 - counted and reported, the run goes on
                errors.append(f"{type(e).__name__}: {e}")
            else:
                lat.append(time.perf_counter() - s)

    await asyncio.gather(*(worker() for _ in range(callers)))
    seconds = time.perf_counter() - t0
    lat.sort()
    return {
        "callers": callers, "calls": len(lat), "errors": len(errors), "first_error": errors[0] if errors else None,
        "seconds": seconds, "calls_per_s": len(lat) / seconds if seconds else float("nan"),
        "p50_ms": pct(lat, 0.50), "p90_ms": pct(lat, 0.90), "p99_ms": pct(lat, 0.99),
        "mean_ms": sum(lat) / len(lat) * 1000 if lat else float("nan"),
    }


def versions() -> dict:
    out = {"python": platform.python_version()}
    for p in ("sqlmodel", "SQLAlchemy", "pydantic", "greenlet", "aiosqlite", "asyncmy"):
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


async def bench(a) -> dict:
    ids = json.loads(Path(a.ids).read_text())
    mod, seed_info = seed.load(a.seed or seed.default_seed())
    if not seed_info["reviewed"]:
        log(f"warning: the code rebuilt from {seed_info['path']} is not the reviewed rebuild (seed.REVIEWED): "
            "check `python3 bench/decnet/seed.py` against DECNET's ttp.py, then update seed.REVIEWED")
    missing = [m for m, _, _ in OPS.values() if not hasattr(mod.TTPMixin, m)]
    if missing:
        raise SystemExit(f"FAILED: the seed's TTPMixin has no {', '.join(missing)}")
    engine, desc = engine_for(a.database_url)
    repo = repository(mod, engine)
    pool = engine.pool
    desc["pool"] = {"class": type(pool).__name__, "size": pool.size() if hasattr(pool, "size") else None,
                    "max_overflow": getattr(pool, "_max_overflow", None)}
    wanted = [o.strip() for o in a.ops.split(",") if o.strip()] if a.ops else list(OPS)
    unknown = [o for o in wanted if o not in OPS]
    if unknown:
        raise SystemExit(f"FAILED: unknown operation(s) {', '.join(unknown)}; known: {', '.join(OPS)}")
    results = {}
    started = time.perf_counter()
    try:
        for name in wanted:
            method, make, concurrent = OPS[name]
            call = functools.partial(make, repo, ids)
            log(f"[decnet] {name}: {method}")
            try:
                t = time.perf_counter()
                first = await call(0)
                first_ms = (time.perf_counter() - t) * 1000
            except Exception:
                raise SystemExit(f"FAILED: DECNET's {method} failed on {name}'s first id:\n{traceback.format_exc()}")
            r = {"method": method, "rows_first": rows(first), "first_call_ms": first_ms}
            if name in ids and "ids" in ids[name]:
                r["ids"] = len(ids[name]["ids"])
            # Warm-up: --warmup seconds of calls from one caller, after the first call above.
            await phase(call, 1, a.warmup, 0, 1)
            r["alone"] = phase_log("1 caller", await phase(call, 1, a.duration, a.min_calls, 0))
            if concurrent and a.concurrency > 1:
                r["concurrent"] = phase_log(f"{a.concurrency} callers",
                                            await phase(call, a.concurrency, a.duration, a.min_calls, 0))
            else:
                r["concurrent"] = None
            results[name] = r
    finally:
        await engine.dispose()
    return {
        "tool": "bench/decnet/run.py",
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "database": desc, "versions": versions(), "seed": seed_info,
        "concurrency": a.concurrency, "duration_s": a.duration, "min_calls": a.min_calls, "warmup_s": a.warmup,
        "seconds": time.perf_counter() - started, "ops": results,
    }


def phase_log(label: str, p: dict) -> dict:
    err = f", {p['errors']} errors (first: {p['first_error']})" if p["errors"] else ""
    log(f"  {label}: {p['calls']} calls in {p['seconds']:.1f} s = {p['calls_per_s']:,.1f} calls/s, "
        f"p50 {p['p50_ms']:.2f} ms, p99 {p['p99_ms']:.2f} ms{err}")
    return p


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", required=True, help="the benchmark's database, as ttpgraph takes it")
    p.add_argument("--ids", required=True, help="the ids file the benchmark picked (bench/data/ids-<dialect>.json)")
    p.add_argument("--ops", default="", help=f"comma-separated subset of {','.join(OPS)} (default: all)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measured window (default 5)")
    p.add_argument("--min-calls", type=int, default=5, help="a window goes on until this many calls (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up calls (default 1)")
    p.add_argument("--concurrency", type=int, default=16, help="asyncio tasks on the one engine (default 16)")
    p.add_argument("--seed", type=Path, default=None,
                   help="the seed dump (default: DECNET_SEED, else the file in ../shared/seed with TTPMixin)")
    p.add_argument("--attack-dir", default=None,
                   help="the ATT&CK catalog folder (default: DECNET_ATTACK_DIR, else ../shared/attack)")
    p.add_argument("--out", help="write the JSON results here (default: stdout)")
    a = p.parse_args()
    if a.attack_dir:
        os.environ["DECNET_ATTACK_DIR"] = a.attack_dir
    out = asyncio.run(bench(a))
    text = json.dumps(out, indent=2) + "\n"
    if a.out:
        Path(a.out).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
