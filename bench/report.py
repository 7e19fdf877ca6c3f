"""The markdown report of one dialect's run, from its results (also re-rendered from a
results.json by `--report`), with DECNET's figures and the targets beside ours. DECNET's
figures are those its own repository code gave in the same run (bench/decnet/run.py),
or, without them (`--no-decnet`, a run from before issue 12), the figures of issue 5."""

from __future__ import annotations

import os
import statistics

# DECNET's figures from issue 5 (ms per call, calls/s where the issue gives them), SQLite /
# MariaDB: the fallback when DECNET was not run. Its insert figures are always these: DECNET's
# insert path is in its per-dialect repositories, which the seed does not include.
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


def alone(r) -> str:
    """The one-connection p50 (warm, rotating over the bodies), else the cold probe's
    median (reports of earlier runs have only that)."""
    if r.get("alone_p50_ms") is not None:
        return f"{ms(r['alone_p50_ms'])} (probe {ms(r['single_ms'])})"
    return ms(r["single_ms"])


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


def decnet_baseline(dialect: str, ctx: dict) -> tuple[dict, str]:
    """({operation: (DECNET's p50 ms, its calls/s, the table's text)}, where they come from)."""
    measured = ctx.get("decnet")
    if measured:
        out = {}
        for k, d in measured["ops"].items():
            one, many = d["alone"], d.get("concurrent")
            best, who = one["calls_per_s"], "1 caller"
            if many and many["calls_per_s"] > best:
                best, who = many["calls_per_s"], f"{many['callers']} callers"
            out[k] = (one["p50_ms"], best, f"{ms(one['p50_ms'])}, {num(best)} calls/s ({who})")
        return out, ("DECNET measured in this run: its own repository code called in-process on the same "
                     "database and ids (bench/decnet/run.py); p50 of one caller alone, the best calls/s of 1 "
                     f"or {measured['concurrency']} callers")
    out = {}
    for k, v in DECNET.items():
        lat, tput = v[dialect]
        text = f"{DECNET_INSPECTOR_RANGE[dialect]} ms" if k == "inspector" else ms(lat)
        out[k] = (lat, tput or 1000.0 / lat, text + (f", {tput:g} calls/s" if tput else ""))
    e = DECNET_EXPORT_MS[dialect]
    out["export"] = (e, 1000.0 / e, ms(e))
    return out, ("DECNET's figures are those of issue 5, not measured in this run (--no-decnet, or a run from "
                 "before issue 12); its throughput is the issue's where it gives one, else 1/latency of one caller")


def decnet_table(dialect: str, ctx: dict) -> str:
    """What DECNET's own code did in this run, operation by operation, with the rows of its
    answer for the first id next to ttpgraph's (both must have answered the same question)."""
    d = ctx.get("decnet")
    if not d:
        return ""
    db, v, sd = d["database"], d["versions"], d["seed"]
    pool = db["pool"]
    by = {o["name"]: o["result"] for o in ctx["ops"]}
    review = "the reviewed rebuild" if sd.get("reviewed") else "⚠ not the reviewed rebuild: see bench/decnet/seed.py"
    L = [f"DECNET's own repository code in this run (`bench/decnet/run.py`): `TTPMixin` rebuilt from the seed "
         f"(`{sd['path'].rsplit('/', 1)[-1]}`, source sha256 {sd['source_sha256'][:12]}, {review}), its imports stood in "
         f"for by `bench/decnet/shim/`, called in-process — no HTTP — through SQLAlchemy {v['SQLAlchemy']} / "
         f"sqlmodel {v['sqlmodel']} / pydantic {v['pydantic']} and {db['driver']} {v.get(db['driver'])} "
         f"(Python {v['python']}); pool {pool['class']} of {pool['size']} + {pool['max_overflow']} overflow "
         f"({db['pool_note']}); {d['concurrency']} asyncio tasks on the one engine; windows of "
         f"{d['duration_s']:g} s stretched to at least {d['min_calls']} calls; {d['seconds']:.0f} s in all.", "",
         f"| operation | DECNET method | rows for the first id (DECNET / ttpgraph) | 1 caller: calls/s | p50 | p99 | "
         f"{d['concurrency']} callers: calls/s | p50 | p99 | errors |",
         "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k, r in d["ops"].items():
        ours = (by.get(k) or {}).get("rows_first")
        same = "" if ours is None else f" {mark(ours == r['rows_first'])}"
        one, many = r["alone"], r.get("concurrent") or {}
        errors = one["errors"] + many.get("errors", 0)
        first = " ".join((one["first_error"] or many.get("first_error") or "").split()).replace("|", "/")[:160]
        L.append(f"| {k} | `{r['method']}` | {r['rows_first']:,} / {'–' if ours is None else f'{ours:,}'}{same} | "
                 f"{num(one['calls_per_s'])} | {ms(one['p50_ms'])} | {ms(one['p99_ms'])} | "
                 f"{num(many.get('calls_per_s'))} | {ms(many.get('p50_ms'))} | {ms(many.get('p99_ms'))} | "
                 f"{errors}{' ❌ ' + first if errors else ''} |")
    return "\n".join(L) + "\n"


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
    sh = ids["fleet"].get("shape")
    if sh:
        it, ai = ids["fleet"]["identity_tag_counts"], sh["attackers_per_identity"]
        L.append(f"Fleet shape: tags per identity scope median {it['median']:,} / max {it['max']:,} "
                 f"(the most-tagged identity clusters {sh['attackers_of_max_identity']:,} attackers, the median one "
                 f"{sh['attackers_of_median_identity']:,}); attackers per identity median {ai['median']:,} / max "
                 f"{ai['max']:,}; tags per attacker median {sh['tags_per_attacker']['median']:,} / max "
                 f"{sh['tags_per_attacker']['max']:,}; identities per campaign median "
                 f"{sh['identities_per_campaign']['median']} / max {sh['identities_per_campaign']['max']}; "
                 f"{sh['unclustered_attackers']:,} attackers unclustered, {sh['merged_identities']:,} identities merged "
                 f"(DECNET's reference fleet: identity median 49 tags / 3 attackers, most-tagged 8,817 tags / 280 "
                 f"attackers).  ")
    L.append(f"Machine: {os.cpu_count()} cores; load average at start {ctx['loadavg']}; "
             f"concurrency {a.concurrency} (wrk -t{min(a.wrk_threads, a.concurrency)} -c{a.concurrency}), "
             f"{a.warmup:g} s warm-up + {a.duration:g} s per operation (stretched up to {a.max_duration} s for slow "
             f"operations: see *window* below); git {ctx['git']}.")
    cache = getattr(a, "response_cache_mib", None)
    if cache is not None:
        L.append("")
        L.append(f"Response cache: **{'off' if cache == 0 else f'on, {cache} MiB'}** (`--response-cache-mib "
                 f"{cache}`; " + ("every request computed" if cache == 0 else
                                   "repeated queries are answered from memory while nothing commits "
                                   "(MariaDB since migration 0011)") + ").")
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
        dec = decnet_baseline(dialect, ctx)[0].get("export")
        L.append(f"Export rollup (store only, one caller — there is no GraphQL field): p50 {ms(e['p50_ms'])} "
                 f"(DECNET {ms(dec[0]) if dec else '–'}{'' if ctx.get('decnet') else ', issue 5'}).  ")
    L.append(f"Cleanup of the benchmark's {ctx['cleanup']['deleted']:,} tags: {ctx['cleanup']['seconds']:.1f} s.")
    L.append("")
    L.append("Where the time goes (CPU in cores, averaged over the measured window; the machine is "
             "shared, so *machine busy* includes other tenants):")
    L.append("")
    L.append("| operation | scope | window | p50 alone (cold probe) | server CPU | wrk CPU | DB server CPU | machine busy | RSS max (anon) | "
             "SQL/request under load | raw calls/s | raw p99 | body |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for o in ops:
        r = o["result"]
        f = floors.get(o["name"])
        db = "in-process" if dialect == "sqlite" else num(r["db_cores"], 2)
        L.append(f"| {o['name']} | {o['scope']} | {r['warmup_s']} + {r['window_s']} s | {alone(r)} | "
                 f"{num(r['server_cores'], 2)} | {num(r['children_cores'], 2)} | "
                 f"{db} | {num(r['machine_busy'] * 100, 0)} % | {num(r['rss_max_mib'])} ({num(r['anon_max_mib'])}) MiB | "
                 f"{num(r['sql_per_request_load'], 2)} | {num(f['rps']) if f else '–'} | "
                 f"{ms(f['p99_ms']) if f else '–'} | {body_size(r)} |")
    L.append("")
    if ctx.get("decnet"):
        L.append(decnet_table(dialect, ctx))
    L.append(targets(dialect, ctx, a))
    return "\n".join(L) + "\n"


def body_size(r: dict) -> str:
    """The answer's size, and its size on the wire where it travelled in gzip."""
    wire = r.get("wire_bytes")
    if wire is None or wire == r["response_bytes"]:
        return f"{r['response_bytes']:,} B"
    return f"{r['response_bytes']:,} B ({wire:,} B gzip)"


def targets(dialect: str, ctx: dict, a) -> str:
    by = {o["name"]: o["result"] for o in ctx["ops"]}
    floors = ctx["floors"]
    base, source = decnet_baseline(dialect, ctx)
    L = [f"Against DECNET and the 10× targets ({source}; *× DECNET* is ttpgraph's req/s with "
         f"{a.concurrency} connections ÷ DECNET's calls/s; DECNET's inserts are issue 5's figures):", "",
         "| operation | DECNET | ttpgraph p50 / p99 (16 callers) | p50 alone (cold probe) | ttpgraph req/s | × DECNET | "
         "≥ 10× throughput | lower latency (p50) | other target |",
         "| --- | ---: | ---: | ---: | ---: | ---: | :---: | :---: | --- |"]
    for k in DECNET:
        r = by.get(k)
        if not r or k not in base:
            continue
        lat, tput, dec = base[k]
        p50, p99 = r["p50_us"] / 1000, r["p99_us"] / 1000
        ratio = r["rps"] / tput if tput else float("nan")
        other = []
        if k.startswith("identity"):
            other.append(f"p99 ≤ 10 ms {mark(p99 <= 10)}")
        if k in ("identity_max", "campaign", "fleet", "inspector") and k in floors:
            fr = p50 / floors[k]["p50_ms"]
            other.append(f"≤ 1.5× raw SQL ({fr:.2f}×) {mark(fr <= 1.5 if not r['errors'] else None)}")
        if r["errors"]:
            other.append(f"{r['errors']} errors ❌")
        L.append(f"| {k} | {dec} | {ms(p50)} / {ms(p99)} | {alone(r)} | {num(r['rps'])} | "
                 f"{num(ratio)}× | {mark(ratio >= 10)} (needs {10 * tput:,.1f}) | {mark(p50 < lat)} | "
                 f"{'; '.join(other)} |")
    if "attackers_page" in by:
        r = by["attackers_page"]
        one = by.get("attackers_page_1")
        same = one is not None and r["sql_per_request"] == one["sql_per_request"]
        # Issue 12: p50 ≤ 30 ms alone, and ≤ 3× the page of 1 under the same load.
        alone_p50 = r.get("alone_p50_ms")
        vs_one = r["p50_us"] / one["p50_us"] if one and one["p50_us"] else float("nan")
        L.append(f"| 100-attacker page | – | {ms(r['p50_us'] / 1000)} / {ms(r['p99_us'] / 1000)} | {alone(r)} | "
                 f"{num(r['rps'])} | – | – | – | "
                 f"p50 alone ≤ 30 ms {mark(alone_p50 <= 30 if alone_p50 is not None else None)}; "
                 f"p50 ≤ 3× the page of 1 ({num(vs_one)}×) {mark(vs_one <= 3 if vs_one == vs_one else None)}; "
                 f"statements {r['sql_per_request']:g} vs "
                 f"{format(one['sql_per_request'], 'g') if one else '?'} for 1 attacker {mark(same if one else None)} |")
    if "attackers_page_gzip" in by and "attackers_page_1_gzip" in by:
        # The same pair as a browser asks for them (Accept-Encoding: gzip).
        r, one = by["attackers_page_gzip"], by["attackers_page_1_gzip"]
        vs_one = r["p50_us"] / one["p50_us"] if one["p50_us"] else float("nan")
        L.append(f"| 100-attacker page, gzip (as browsers ask) | – | {ms(r['p50_us'] / 1000)} / {ms(r['p99_us'] / 1000)} | "
                 f"{alone(r)} | {num(r['rps'])} | – | – | – | "
                 f"p50 ≤ 3× the page of 1 in gzip ({num(vs_one)}×) {mark(vs_one <= 3 if vs_one == vs_one else None)}; "
                 f"{r['wire_bytes']:,} B vs {r['response_bytes']:,} B plain |")
    ins = DECNET_INSERT_TAGS_S[dialect]
    if "insert_tags" in by:
        r = by["insert_tags"]
        tags = r["rps"] * a.insert_batch
        L.append(f"| insertTags, batches of {a.insert_batch} | {ins:,.0f} tags/s (issue 5) | "
                 f"{ms(r['p50_us'] / 1000)} / {ms(r['p99_us'] / 1000)} | {ms(r['single_ms'])} | {tags:,.0f} tags/s | "
                 f"{num(tags / ins)}× | {mark(tags >= 10 * ins)} | – | ≥ 20,000 tags/s {mark(tags >= 20000)} |")
    for s in ctx["store_inserts"]:
        L.append(f"| store insert_tags, batch {s['batch']:,} × {s['concurrency']} | {ins:,.0f} tags/s (issue 5) | "
                 f"{ms(s['p50_ms'])} / {ms(s['p99_ms'])} | – | {s['tags_per_s']:,.0f} tags/s | "
                 f"{num(s['tags_per_s'] / ins)}× | {mark(s['tags_per_s'] >= 10 * ins)} | – | "
                 f"≥ 100,000 tags/s {mark(s['tags_per_s'] >= 100000)} |")
    if "export" in floors and "export" in base:
        e = floors["export"]
        lat, tput, dec = base["export"]
        L.append(f"| export rollup (store only, 1 caller) | {dec} | {ms(e['p50_ms'])} / {ms(e['p99_ms'])} | "
                 f"{ms(e['p50_ms'])} | {num(e['rps'], 2)} | {num(e['rps'] / tput)}× | {mark(e['rps'] >= 10 * tput)} | "
                 f"{mark(e['p50_ms'] < lat)} | |")
    rt = statistics.median(ctx["ready"]) * 1000
    L.append(f"| ready time | – | {rt:.0f} ms | – | – | – | – | – | ≤ 200 ms {mark(rt <= 200)} |")
    L.append(f"| server RSS (VmHWM) | – | {ctx['hwm']:.1f} MiB | – | – | – | – | – | "
             f"≤ 150 MB {mark(ctx['hwm'] * 1.048576 <= 150)} |")
    return "\n".join(L) + "\n"
