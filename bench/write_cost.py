"""What ttpgraph's triggers cost DECNET's writers on MySQL/MariaDB, and whether they make
concurrent writers deadlock (issue 12).

A fresh database is migrated by ttpgraph, then W writer connections replay DECNET's write
pattern for a window each: per event, `UPDATE attackers SET last_seen, event_count` for the
attacker (its own statement, as DECNET's profiler does), then one multi-row
`INSERT IGNORE INTO ttp_tag` of the event's 1-4 tags (DECNET's `insert_tags`), each
committed at once. DECNET does not retry a failed insert: a deadlock (1213) or lock wait
timeout (1205) is tags lost. Three trigger sets alternate, round after round (the machine
is noisy: compare within a run):

  decnet-alone      no ttpgraph trigger at all (DECNET's own cost);
  previous-release  the triggers as migration 0010 left them: one fleet-summary row per
                    group for every writer, no data-version triggers;
  this-release      everything as migrated now: fleet-summary rows per writer connection
                    (0012) and the data-version triggers (0011).

    bench/.venv-decnet/bin/python bench/write_cost.py \\
        [--server mysql://root@127.0.0.1:3306] [--writers 4] [--seconds 5] [--rounds 3]

Uses asyncmy (DECNET's MySQL driver, installed in bench/.venv-decnet by bench/run.sh) and
the release binary target/release/ttpgraph (built by bench/run.sh)."""
import argparse
import asyncio
import json
import random
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncmy

ROOT = Path(__file__).resolve().parent.parent
DB = "ttpbench_write"
TABLES = ["ttp_tag", "attackers", "attacker_identities", "campaigns"]
TRIGGERS = [f"trg_{t}_data_version_{e}" for t in TABLES for e in ("insert", "update", "delete")]
MIGRATION = 20261128000011
COLUMNS = ("uuid, source_kind, source_id, attacker_uuid, identity_uuid, session_id, decky_id, tactic, "
           "technique_id, sub_technique_id, confidence, rule_id, rule_version, evidence, attack_release, "
           "mitre_url, created_at")
TECHNIQUES = [("TA0007", "T1083"), ("TA0007", "T1082"), ("TA0011", "T1105"), ("TA0006", "T1110"),
              ("TA0002", "T1059"), ("TA0003", "T1098"), ("TA0005", "T1070"), ("TA0008", "T1021")]


def conn_args(server):
    u = urlsplit(server)
    return dict(host=u.hostname or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
                password=u.password or "", autocommit=False)


async def sql(server, *statements, db=DB):
    c = await asyncmy.connect(**conn_args(server), db=db)
    try:
        async with c.cursor() as cur:
            for s in statements:
                await cur.execute(s)
        await c.commit()
    finally:
        c.close()


async def setup(server, attackers):
    await sql(server, f"DROP DATABASE IF EXISTS {DB}", f"CREATE DATABASE {DB}", db=None)
    url = f"{server.rstrip('/')}/{DB}"
    subprocess.run([str(ROOT / "target/release/ttpgraph"), "migrate", "--database-url", url],
                   check=True, stdout=subprocess.DEVNULL)
    ids = [str(uuid.UUID(int=random.getrandbits(128), version=4)) for _ in range(attackers)]
    rows = ", ".join(f"('{a}', '10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}', NOW(), NOW(), 0, '[]')"
                     for i, a in enumerate(ids))
    await sql(server, f"INSERT INTO attackers (uuid, ip, first_seen, last_seen, event_count, commands) "
                      f"VALUES {rows}")
    return ids


async def trigger_defs(server):
    """Every trigger of the migrated database, in creation order (event, action order),
    with FOLLOWS/PRECEDES dropped: created in that order they keep their order."""
    import re
    c = await asyncmy.connect(**conn_args(server), db=DB)
    out = []
    try:
        async with c.cursor() as cur:
            await cur.execute("SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = %s "
                              "ORDER BY event_object_table, event_manipulation, action_order", (DB,))
            names = [r[0] for r in await cur.fetchall()]
            for n in names:
                await cur.execute(f"SHOW CREATE TRIGGER {n}")
                text = (await cur.fetchone())[2]
                text = re.sub(r"DEFINER=\S+ ", "", text)
                text = re.sub(r"\s(FOLLOWS|PRECEDES) \w+", "", text)
                out.append((n, text))
    finally:
        c.close()
    return out


def config(defs, name):
    if name == "decnet-alone":
        return []
    if name == "previous-release":
        return [(n, t.replace("CONNECTION_ID() % 16", "0")) for n, t in defs if n not in TRIGGERS]
    return defs


async def set_triggers(server, defs, name):
    c = await asyncmy.connect(**conn_args(server), db=DB)
    try:
        async with c.cursor() as cur:
            await cur.execute("SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = %s", (DB,))
            present = [r[0] for r in await cur.fetchall()]
    finally:
        c.close()
    await sql(server, *[f"DROP TRIGGER {n}" for n in present])
    await sql(server, *[t for _, t in config(defs, name)])


UPDATE_ATTACKER = "UPDATE attackers SET last_seen = NOW(), event_count = event_count + 1 WHERE uuid = %s"


def event_insert(a, rng, source_ids):
    """DECNET's `insert_tags` for one event of attacker `a`: one multi-row INSERT IGNORE of
    1-4 tags, one per source id drawn from `source_ids` (an iterator of strings)."""
    tags = []
    for _ in range(rng.randint(1, 4)):
        src = next(source_ids)
        tactic, tech = rng.choice(TECHNIQUES)
        tags.append(f"('{uuid.uuid4()}', 'command', '{src}', '{a}', NULL, 'sess-{a[:13]}', "
                    f"'decky-{rng.randrange(12)}', '{tactic}', '{tech}', NULL, 0.8, 'R0014', 2, "
                    f"'{{\"command_text\": \"ls\"}}', 'v15.1', NULL, NOW())")
    return f"INSERT IGNORE INTO ttp_tag ({COLUMNS}) VALUES {', '.join(tags)}", len(tags)


async def write_event(c, cur, a, rng, source_ids):
    """One DECNET event: the attacker's update, then its tags, each committed at once (as
    DECNET's profiler and tagger do). Returns the number of tags sent."""
    await cur.execute(UPDATE_ATTACKER, (a,))
    await c.commit()
    insert, n = event_insert(a, rng, source_ids)
    await cur.execute(insert)
    await c.commit()
    return n


async def writer(server, attackers, deadline, seq, stats):
    c = await asyncmy.connect(**conn_args(server), db=DB)
    rng = random.Random()
    source_ids = (f"cmd_{n}" for n in seq)
    try:
        async with c.cursor() as cur:
            while time.monotonic() < deadline:
                try:
                    stats["tags"] += await write_event(c, cur, rng.choice(attackers), rng, source_ids)
                    stats["events"] += 1
                except asyncmy.errors.OperationalError as e:
                    await c.rollback()
                    code = e.args[0] if e.args else 0
                    if code in (1205, 1213):
                        stats[str(code)] += 1
                    else:
                        raise
    finally:
        c.close()


async def round_(server, attackers, writers, seconds):
    import itertools
    seq = itertools.count(random.getrandbits(40))
    stats = {"events": 0, "tags": 0, "1205": 0, "1213": 0}
    deadline = time.monotonic() + seconds
    await asyncio.gather(*[writer(server, attackers, deadline, seq, stats) for _ in range(writers)])
    return {k: v / seconds if k in ("events", "tags") else v for k, v in stats.items()}


async def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="mysql://root@127.0.0.1:3306")
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--attackers", type=int, default=2000)
    a = p.parse_args()
    attackers = await setup(a.server, a.attackers)
    defs = await trigger_defs(a.server)
    names = ["decnet-alone", "previous-release", "this-release"]
    results = {n: [] for n in names}
    for r in range(a.rounds):
        for n in names:
            await set_triggers(a.server, defs, n)
            got = await round_(a.server, attackers, a.writers, a.seconds)
            results[n].append(got)
            lost = got["1205"] + got["1213"]
            print(f"round {r + 1} {n:>16}: {got['events']:6.0f} events/s {got['tags']:7.0f} tags/s; "
                  f"inserts failed: {lost} (deadlocks {got['1213']}, lock waits timed out {got['1205']})",
                  flush=True)
    print(f"medians over {a.rounds} rounds, {a.writers} writers, {a.seconds:g} s each:")
    base = statistics.median(x["events"] for x in results["decnet-alone"])
    for n in names:
        ev = statistics.median(x["events"] for x in results[n])
        failed = sum(x["1205"] + x["1213"] for x in results[n])
        done = sum(x["events"] * a.seconds for x in results[n])
        print(f"  {n:>16}: {ev:6.0f} events/s ({(ev / base - 1) * 100:+5.1f} % vs DECNET alone), "
              f"{failed} inserts failed ({failed / max(done + failed, 1) * 100:.2f} % of events)")
    print(json.dumps(results))
    await sql(a.server, f"DROP DATABASE IF EXISTS {DB}", db=None)


if __name__ == "__main__":
    asyncio.run(main())
