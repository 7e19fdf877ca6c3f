"""The fleet: build the deterministic demo fleet once, stamp it with what built it, and
reuse it while the stamp still matches; then pick (and cache) the ids to query."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from pathlib import Path

from common import DATA, ROOT, TTPGRAPH, helper, log, run


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
        "shape": a.shape,
        "demo_source": demo_source_hash(),
    }


def stamp_path(dialect: str) -> Path:
    return DATA / f"fleet-{dialect}.stamp.json"


def database_url(dialect: str, a) -> str:
    if a.database_url:
        return a.database_url
    if dialect == "sqlite":
        return f"sqlite://{DATA / 'fleet-sqlite.db'}"
    return a.mysql_url


def existing_fleet(dialect: str, a) -> dict:
    """A database the user points at (--database-url): counted, never rebuilt."""
    url = database_url(dialect, a)
    n = helper(["count", "--database-url", url])
    return {
        "dialect": dialect, "database_url": url, "params": None, "external": True,
        "built_at": f"existing database, counted {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        "demo_seconds": float("nan"), "demo_summary": f"existing database {url.split('@')[-1]}",
        "demo_sessions": None, "tag_rows": n["tags"], "reused": True,
    }


def ensure_fleet(dialect: str, a) -> dict:
    if a.database_url:
        return existing_fleet(dialect, a)
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
        "--tags", str(a.tags), "--batch", str(a.demo_batch), "--shape", a.shape, "--quiet",
    ]
    env = {"TTPGRAPH_LOG": "warn,sqlx=error"}
    log(f"fleet: building the {dialect} fleet (this takes minutes; MariaDB's is the slow one)")
    t0 = time.perf_counter()
    p = run(cmd, env_extra=env)
    seconds = time.perf_counter() - t0
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("demo fleet:")), p.stdout.strip())
    line += "".join(f"; {ln}" for ln in p.stdout.splitlines() if ln.startswith("re-clustered:"))
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
    path = DATA / f"ids-{dialect}{'-external' if stamp.get('external') else ''}.json"
    key = {"built_at": stamp["built_at"], "rotate": rotate, "version": 3}
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
