"""The response cache while DECNET writes (issue 12): every commit to the tables answers
are read from moves the data version and empties the cache, so what a cache is worth
depends on how often DECNET commits. This serves the MariaDB benchmark fleet with the
cache on, sends one operation's rotating bodies with wrk (16 connections) and meanwhile
writes DECNET-style events at a fixed rate from another connection (per event: an
`UPDATE attackers` then one multi-row `INSERT IGNORE` of 1-4 tags, each committed, as
bench/write_cost.py does), for each rate given. It reports req/s, p50/p99 and the share of
answers served from the cache (from `/metrics`). The tags it wrote are deleted at the end
(source ids `cuw-*`), and the summaries refreshed.

    bench/.venv-decnet/bin/python bench/cache_under_writes.py [--op session] [--rates 0,20,200]

Needs the benchmark's MariaDB fleet and bodies (bench/run.sh mysql builds both; the
bodies of a run are under bench/out/<stamp>-mysql/), wrk, and asyncmy in
bench/.venv-decnet."""
import argparse
import asyncio
import glob
import json
import os
import random
import re
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import asyncmy

from write_cost import write_event

ROOT = Path(__file__).resolve().parent.parent
DB = dict(host="127.0.0.1", port=3306, user="root", password="", db="ttpbench", autocommit=False)
URL = "mysql://root@127.0.0.1:3306/ttpbench"


async def writer(rate, stop, attackers):
    if rate <= 0:
        await stop.wait()
        return 0
    c = await asyncmy.connect(**DB)
    n = 0
    rng = random.Random()
    source_ids = (f"cuw-{uuid.uuid4()}" for _ in iter(int, 1))
    try:
        async with c.cursor() as cur:
            start = time.monotonic()
            while not stop.is_set():
                await write_event(c, cur, rng.choice(attackers), rng, source_ids)
                n += 1
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), delay)
                    except asyncio.TimeoutError:
                        pass
    finally:
        c.close()
    return n


def hits(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    got = {}
    for m in re.finditer(r'ttpgraph_response_cache_lookups_total\{result="(\w+)"\} (\S+)', text):
        got[m.group(1)] = float(m.group(2))
    return got.get("hit", 0.0), got.get("miss", 0.0)


async def one(rate, bodies, port, seconds, attackers):
    before = hits(port)
    stop = asyncio.Event()
    w = asyncio.create_task(writer(rate, stop, attackers))
    env = dict(os.environ, BENCH_BODIES=bodies, BENCH_EXPECT='"data"', BENCH_NONCE="cuw")
    p = await asyncio.create_subprocess_exec(
        "wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "30s", "-s", str(ROOT / "bench/wrk/graphql.lua"),
        f"http://127.0.0.1:{port}/graphql", env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await p.communicate()
    stop.set()
    events = await w
    after = hits(port)
    line = next(l for l in out.decode().splitlines() if l.startswith("BENCH_JSON"))
    r = json.loads(line.split(" ", 1)[1])
    h, m = after[0] - before[0], after[1] - before[1]
    return dict(rate=rate, events=events, rps=r["ok"] / (r["duration_us"] / 1e6), failed=r["requests"] - r["ok"],
                p50=r["p50_us"] / 1000, p99=r["p99_us"] / 1000, hit_share=h / max(h + m, 1))


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--op", default="session")
    ap.add_argument("--rates", default="0,20,200", help="DECNET events per second, comma-separated")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--port", type=int, default=58790)
    a = ap.parse_args()
    runs = sorted(glob.glob(str(ROOT / "bench/out/*-mysql" / f"{a.op}.bodies.jsonl")))
    if not runs:
        raise SystemExit(f"no {a.op}.bodies.jsonl under bench/out/*-mysql: run bench/run.sh mysql first")
    c = await asyncmy.connect(**DB)
    async with c.cursor() as cur:
        await cur.execute("SELECT uuid FROM attackers ORDER BY uuid LIMIT 2000")
        attackers = [r[0] for r in await cur.fetchall()]
    server = subprocess.Popen([str(ROOT / "target/release/ttpgraph"), "serve", "--database-url", URL,
                               "--listen", f"127.0.0.1:{a.port}", "--response-cache-mib", "16"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{a.port}/readyz")
                break
            except OSError:
                time.sleep(0.1)
        for rate in [float(x) for x in a.rates.split(",")]:
            r = await one(rate, runs[-1], a.port, a.seconds, attackers)
            print(f"{a.op}: DECNET writing {rate:g} events/s ({r['events']} written): {r['rps']:,.0f} req/s, "
                  f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, failed {r['failed']}, "
                  f"answered from the cache {r['hit_share'] * 100:.1f} %", flush=True)
    finally:
        # The fleet as it was: this run's tags out, and a refresh of the server (every 5 s)
        # for the groups the deletes marked dirty.
        async with c.cursor() as cur:
            await cur.execute("DELETE FROM ttp_tag WHERE source_id LIKE 'cuw-%'")
        await c.commit()
        c.close()
        time.sleep(6)
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
