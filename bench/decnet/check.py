#!/usr/bin/env python3
"""Checks the DECNET harness on a small database it builds itself, without the big fleet:
DECNET's tables as ttpgraph's first migration creates them (SPEC §1), a few hundred tags
with identity-rollup tags, tags on unclustered and on unknown attackers, NULL and set
sub-techniques; then every operation of run.py, for its first id, must give the rollup
that the generated rows say (computed here in Python), and the direct SQL `COUNT(*)` of
its scope; finally run.py itself runs briefly on the database and its `rows_first` must
match.

    bench/.venv-decnet/bin/python bench/decnet/check.py                # SQLite (a temp file)
    bench/.venv-decnet/bin/python bench/decnet/check.py --mysql-url mysql://root@127.0.0.1:3306/decnet_h_dev

The MariaDB database is created, and dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
import warnings
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402 - puts the shims on sys.path
import seed  # noqa: E402

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

MIGRATION = "20261128000001_decnet_schema.sql"
RULES = [("TA0006", "T1110", None), ("TA0006", "T1110", "T1110.003"), ("TA0007", "T1083", None),
         ("TA0004", "T1548", "T1548.001"), ("TA0002", "T1059", "T1059.004"), ("TA0011", "T1105", None),
         ("TA0003", "T1136", "T1136.001"), ("TA0007", "T1046", None), ("TA0043", "T1595", None),
         ("TA0011", "T1029", None), ("TA0040", "T9999", None)]  # T9999: not in the catalog
EPOCH = dt.datetime(2026, 5, 1)
ROOT_MIGRATIONS = HERE.parents[1] / "migrations"


def fleet(rng: random.Random, mysql: bool) -> dict:
    """The rows: 20 identities (15 in 5 campaigns), 60 attackers (10 unclustered), 30
    sessions, 700 tags (some identity-rollup, some on attackers without a row)."""
    u = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))  # noqa: E731
    campaigns = [u() for _ in range(5)]
    identities = [(u(), campaigns[i % 5] if i < 15 else None) for i in range(20)]
    attackers = [(u(), identities[i % 20][0] if i < 50 else None) for i in range(60)]
    strangers = [u() for _ in range(3)]  # tags may name attackers without a row (no FK on SQLite)
    sessions = [u() for _ in range(30)]
    tags = []
    for n in range(700):
        tactic, tech, sub = rng.choice(RULES)
        when = EPOCH + dt.timedelta(seconds=rng.randrange(30 * 86400), microseconds=rng.randrange(10**6))
        if mysql:
            when = when.replace(microsecond=0)  # DATETIME keeps whole seconds
        kind = rng.random()
        if kind < 0.1:  # identity rollup: no attacker
            att, ident, sess = None, rng.choice(identities)[0], None
        else:
            att, ident = rng.choice(attackers) if kind < 0.97 else (rng.choice(strangers), None)
            ident = ident if ident and rng.random() < 0.5 else None
            sess = rng.choice(sessions) if rng.random() < 0.8 else None
        tags.append({
            "uuid": u(), "source_kind": "command", "source_id": f"s#{n}", "attacker_uuid": att,
            "identity_uuid": ident, "session_id": sess, "decky_id": rng.choice(["omega-decky", None]),
            "tactic": tactic, "technique_id": tech, "sub_technique_id": sub,
            "confidence": round(rng.uniform(0.3, 1.0), 3), "rule_id": f"R{rng.randrange(1, 60):04d}",
            "rule_version": 1, "evidence": json.dumps({"command_text": "cat /etc/passwd", "n": n}),
            "attack_release": "v15.1", "mitre_url": None, "created_at": when,
        })
    return {"campaigns": campaigns, "identities": identities, "attackers": attackers, "tags": tags}


def inserts(f: dict, mysql: bool) -> list[tuple[str, list[dict]]]:
    fmt = (lambda t: t.strftime("%Y-%m-%d %H:%M:%S")) if mysql else (lambda t: t.strftime("%Y-%m-%d %H:%M:%S.%f"))
    now = fmt(EPOCH)
    tag_cols = list(f["tags"][0])
    return [
        ("INSERT INTO campaigns (uuid, identity_count) VALUES (:u, 0)", [{"u": c} for c in f["campaigns"]]),
        ("INSERT INTO attacker_identities (uuid, campaign_id, observation_count) VALUES (:u, :c, 0)",
         [{"u": i, "c": c} for i, c in f["identities"]]),
        ("INSERT INTO attackers (uuid, ip, identity_id, first_seen, last_seen, event_count, commands) "
         "VALUES (:u, :ip, :i, :t, :t, 1, '[]')",
         [{"u": a, "ip": f"203.0.113.{k}", "i": i, "t": now} for k, (a, i) in enumerate(f["attackers"])]),
        (f"INSERT INTO ttp_tag ({', '.join(tag_cols)}) VALUES ({', '.join(':' + c for c in tag_cols)})",
         [dict(t, created_at=fmt(t["created_at"])) for t in f["tags"]]),
    ]


def rollup(tags: list[dict]) -> dict:
    """(technique, sub) → count, tactic, first/last seen, confidence max, identities."""
    out: dict = {}
    for t in tags:
        g = out.setdefault((t["technique_id"], t["sub_technique_id"]), {
            "count": 0, "tactic": "", "first": t["created_at"], "last": t["created_at"], "conf": 0.0, "ids": set()})
        g["count"] += 1
        g["tactic"] = max(g["tactic"], t["tactic"])
        g["first"], g["last"] = min(g["first"], t["created_at"]), max(g["last"], t["created_at"])
        g["conf"] = max(g["conf"], t["confidence"])
        if t["identity_uuid"]:
            g["ids"].add(t["identity_uuid"])
    return out


def pick(f: dict) -> dict:
    """An ids file in bench_floor's format (only the keys run.py reads)."""
    members = defaultdict(set)
    for a, i in f["attackers"]:
        if i:
            members[i].add(a)
    scope = {i: [t for t in f["tags"] if t["identity_uuid"] == i or t["attacker_uuid"] in members[i]]
             for i, _ in f["identities"]}
    ranked = sorted(scope, key=lambda i: (len(scope[i]), i))
    top = ranked[-1]
    by_tech = defaultdict(int)
    for t in scope[top]:
        by_tech[t["technique_id"]] += 1
    known = {a for a, _ in f["attackers"]}
    per_att = defaultdict(int)
    for t in f["tags"]:
        if t["attacker_uuid"] in known:
            per_att[t["attacker_uuid"]] += 1
    per_sess = defaultdict(int)
    for t in f["tags"]:
        if t["session_id"]:
            per_sess[t["session_id"]] += 1
    camp_of = dict(f["identities"])
    per_camp = defaultdict(int)
    for t in f["tags"]:
        if camp_of.get(t["identity_uuid"]):
            per_camp[camp_of[t["identity_uuid"]]] += 1
    mid = len(ranked) // 2
    return {
        "identity_median": {"ids": ranked[mid - 2: mid + 3]},
        "identity_max": {"ids": [top]},
        "attacker": {"ids": sorted(per_att, key=lambda a: (-per_att[a], a))[:5]},
        "session": {"ids": sorted(per_sess, key=lambda s: (-per_sess[s], s))[:5]},
        "campaign": {"ids": [max(per_camp, key=lambda c: (per_camp[c], c))]},
        "inspector": {"ids": [top], "technique_id": max(by_tech, key=lambda k: (by_tech[k], k))},
    }


def expected(f: dict, ids: dict, op: str):
    """(the tags the operation reads for its first id, its direct-SQL count query)."""
    tags = f["tags"]
    members = {a for a, i in f["attackers"] if i == ids.get(op, {}).get("ids", [None])[0]}
    first = ids[op]["ids"][0] if op in ids else None
    if op in ("identity_median", "identity_max", "inspector"):
        sel = [t for t in tags if t["identity_uuid"] == first or t["attacker_uuid"] in members]
        scope = "(identity_uuid = :i OR attacker_uuid IN (SELECT uuid FROM attackers WHERE identity_id = :i))"
        if op != "inspector":
            return sel, (f"SELECT COUNT(*) FROM ttp_tag WHERE {scope}", {"i": first})
        tech = ids["inspector"]["technique_id"]
        return ([t for t in sel if t["technique_id"] == tech],
                (f"SELECT COUNT(*) FROM ttp_tag WHERE {scope} AND technique_id = :t", {"i": first, "t": tech}))
    if op == "attacker":
        return ([t for t in tags if t["attacker_uuid"] == first],
                ("SELECT COUNT(*) FROM ttp_tag WHERE attacker_uuid = :a", {"a": first}))
    if op == "session":
        return ([t for t in tags if t["session_id"] == first],
                ("SELECT COUNT(*) FROM ttp_tag WHERE session_id = :s", {"s": first}))
    if op == "campaign":
        idents = {i for i, c in f["identities"] if c == first}
        return ([t for t in tags if t["identity_uuid"] in idents],
                ("SELECT COUNT(*) FROM ttp_tag t JOIN attacker_identities i ON i.uuid = t.identity_uuid "
                 "WHERE i.campaign_id = :c", {"c": first}))
    if op == "fleet":
        return tags, ("SELECT COUNT(*) FROM ttp_tag", {})
    return ([t for t in tags if t["attacker_uuid"]],
            ("SELECT COUNT(*) FROM ttp_tag WHERE attacker_uuid IS NOT NULL", {}))


def naive(t: dt.datetime) -> dt.datetime:
    """sqlmodel maps `datetime` to its UTCDateTime: DECNET's naive UTC values come back aware."""
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def compare(op: str, answer, tags: list[dict], ids: dict, mysql: bool) -> list[str]:
    """What differs between DECNET's answer and the generated rows."""
    from decnet.ttp.attack_catalog import technique_name
    from decnet.ttp.attack_stix import mitre_url_for
    bad = []
    close = (lambda x, y: abs(x - y) < 1e-6) if mysql else (lambda x, y: x == y)
    if op == "inspector":
        want = sorted(tags, key=lambda t: t["created_at"], reverse=True)[:200]
        got = {r["uuid"] for r in answer}
        if len(answer) != len(want) or (len(tags) <= 200 and got != {t["uuid"] for t in tags}):
            bad.append(f"inspector: {len(answer)} rows, expected {len(want)}")
        return bad
    want = rollup(tags)
    if op == "export":
        got = {(a, r["technique_id"], r["sub_technique_id"]): r["count"] for a, rs in answer.items() for r in rs}
        exp = defaultdict(int)
        for t in tags:
            exp[(t["attacker_uuid"], t["technique_id"], t["sub_technique_id"])] += 1
        return [] if got == dict(exp) else ["export: the per-attacker counts differ"]
    got = {(r.technique_id, r.sub_technique_id): r for r in answer}
    if set(got) != set(want):
        return [f"{op}: groups {sorted(map(str, got))} != {sorted(map(str, want))}"]
    for k, g in want.items():
        r = got[k]
        checks = [("count", r.count, g["count"]), ("tactic", r.tactic, g["tactic"]),
                  ("last_seen", naive(r.last_seen), g["last"]),
                  ("technique_name", r.technique_name, technique_name(k[0])),
                  ("sub_technique_name", r.sub_technique_name, technique_name(k[1])),
                  ("mitre_url", r.mitre_url, mitre_url_for(k[1] or k[0]))]
        if op == "campaign":
            checks.append(("identity_count", r.identity_count, len(g["ids"])))
        elif op != "fleet":
            checks.append(("first_seen", naive(r.first_seen), g["first"]))
            if not close(r.confidence_max, g["conf"]):
                bad.append(f"{op} {k}: confidence_max {r.confidence_max} != {g['conf']}")
        bad += [f"{op} {k}: {name} {x!r} != {y!r}" for name, x, y in checks if x != y]
    return bad


async def build(url: str, mysql: bool, f: dict, sqlite_path: Path | None, every_migration: bool) -> None:
    ddl = (ROOT_MIGRATIONS / ("mysql" if mysql else "sqlite") / MIGRATION).read_text()
    if not mysql:
        con = sqlite3.connect(sqlite_path)
        for m in sorted((ROOT_MIGRATIONS / "sqlite").glob("*.sql")) if every_migration else [None]:
            con.executescript(m.read_text() if m else ddl)
        for sql, rows in inserts(f, mysql):
            con.executemany(sql, rows)
        con.commit()
        con.close()
        return
    server, db = url.rsplit("/", 1)
    admin = create_async_engine(server.replace("mysql://", "mysql+asyncmy://", 1) + "/")
    warnings.filterwarnings("ignore", message=".*database doesn't exist")
    async with admin.begin() as c:
        await c.execute(text(f"DROP DATABASE IF EXISTS `{db}`"))
        await c.execute(text(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    await admin.dispose()
    eng = create_async_engine(url.replace("mysql://", "mysql+asyncmy://", 1))
    async with eng.begin() as c:
        body = "\n".join(ln for ln in ddl.splitlines() if not ln.lstrip().startswith("--"))
        for stmt in (s.strip() for s in body.split(";\n")):
            if stmt:
                await c.exec_driver_sql(stmt.rstrip(";"))
        for sql, rows in inserts(f, mysql):
            await c.execute(text(sql), rows)
    await eng.dispose()


async def drop(url: str) -> None:
    warnings.filterwarnings("ignore", message=".*database doesn't exist")
    server, db = url.rsplit("/", 1)
    admin = create_async_engine(server.replace("mysql://", "mysql+asyncmy://", 1) + "/")
    async with admin.begin() as c:
        await c.execute(text(f"DROP DATABASE IF EXISTS `{db}`"))
    await admin.dispose()


async def check(url: str, mysql: bool, f: dict, ids: dict) -> tuple[list[str], dict[str, int]]:
    """(mismatches, rows of each answer)."""
    mod, _ = seed.load(seed.default_seed())
    engine, _ = run.engine_for(url)
    repo = run.repository(mod, engine)
    bad, rows = [], {}
    from decnet.ttp.attack_catalog import technique_name
    if technique_name("T1059.004") != "Command and Scripting Interpreter: Unix Shell":  # SPEC's example
        bad.append(f"catalog: T1059.004 is named {technique_name('T1059.004')!r}")
    try:
        for op, (method, make, _) in run.OPS.items():
            answer = await make(repo, ids, 0)
            tags, (sql, params) = expected(f, ids, op)
            async with engine.connect() as c:
                n = (await c.execute(text(sql), params)).scalar_one()
            if n != len(tags):
                bad.append(f"{op}: direct SQL counts {n} tags, the generated rows {len(tags)}")
            if op == "inspector":
                total, want = len(answer), min(n, 200)
            elif op == "export":
                total, want = sum(r["count"] for v in answer.values() for r in v), n
            else:
                total, want = sum(r.count for r in answer), n
            if total != want:
                bad.append(f"{op}: DECNET's {method} covers {total} tags, direct SQL {want}")
            bad += compare(op, answer, tags, ids, mysql)
            rows[op] = run.rows(answer)
            print(f"  {op}: {method} → {rows[op]} rows over {total} tags (SQL COUNT {n})")
    finally:
        await engine.dispose()
    return bad, rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mysql-url", help="check on MariaDB/MySQL instead (this database is created and dropped)")
    p.add_argument("--keep", action="store_true", help="keep the database (its path or name is printed)")
    p.add_argument("--every-migration", action="store_true",
                   help="SQLite: apply all of ttpgraph's migrations (the benchmark's layout: its summary "
                        "tables, triggers and extra indexes), not only DECNET's tables")
    p.add_argument("--seed", type=int, default=7, help="random seed of the generated rows")
    a = p.parse_args()
    mysql = bool(a.mysql_url)
    f = fleet(random.Random(a.seed), mysql)
    ids = pick(f)
    tmp = Path(tempfile.mkdtemp(prefix="decnet-check-"))
    sqlite_path = tmp / "decnet.db"
    url = a.mysql_url if mysql else f"sqlite://{sqlite_path}"
    print(f"database: {url} ({len(f['tags'])} tags)")
    if a.every_migration and mysql:
        p.error("--every-migration is for SQLite (its triggers need `ttpgraph migrate` on MariaDB)")
    asyncio.run(build(url, mysql, f, None if mysql else sqlite_path, a.every_migration))
    try:
        bad, rows = asyncio.run(check(url, mysql, f, ids))
        ids_path = tmp / "ids.json"
        ids_path.write_text(json.dumps(ids))
        out = tmp / "decnet.json"
        subprocess.run([sys.executable, str(HERE / "run.py"), "--database-url", url, "--ids", str(ids_path),
                        "--duration", "0.3", "--warmup", "0.1", "--min-calls", "2", "--out", str(out)], check=True)
        res = json.loads(out.read_text())["ops"]
        for op, r in res.items():
            errors = r["alone"]["errors"] + (r["concurrent"] or {}).get("errors", 0)
            if r["rows_first"] != rows[op] or errors:
                bad.append(f"run.py {op}: rows_first {r['rows_first']} (checked answer: {rows[op]}), {errors} errors")
    finally:
        if not a.keep:
            shutil.rmtree(tmp)
            if mysql:
                asyncio.run(drop(url))
    for b in bad:
        print("MISMATCH", b)
    print(f"{'FAILED' if bad else 'OK'}: {len(run.OPS)} operations, {len(bad)} mismatches"
          + (f"; kept {url}" if a.keep else ""))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
