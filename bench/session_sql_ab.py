"""SQL-level before/after of the unfiltered session rollup on a SQLite fleet: the scan of
the session's tags (the covering index of migration 0004) vs the session summary (0010),
for the median session, the busiest one and the 50 busiest in one statement; rows
compared. python3 bench/session_sql_ab.py bench/data/fleet-sqlite.db"""
import sqlite3, statistics, sys, time

TAGS = """SELECT t.session_id, t.technique_id, t.sub_technique_id, MAX(t.tactic), COUNT(*), MIN(t.created_at),
       MAX(t.created_at), MAX(t.confidence)
FROM ttp_tag t WHERE t.session_id IN ({p}) GROUP BY t.session_id, t.technique_id, t.sub_technique_id"""
SUMMARY = """SELECT r.session_id, r.technique_id, NULLIF(r.sub_key, ''), MAX(r.tactic), SUM(r.tag_count),
       MIN(r.first_seen), MAX(r.last_seen), MAX(r.confidence_max)
FROM ttp_session_rollup r WHERE r.session_id IN ({p}) AND r.tag_count > 0
GROUP BY r.session_id, r.technique_id, r.sub_key"""


def connect(path):
    db = sqlite3.connect(path.removeprefix("sqlite://"))
    db.execute("PRAGMA mmap_size=0")
    return db, "?"


def rows(db, sql, args):
    c = db.cursor()
    c.execute(sql, args)
    return c.fetchall()


def main():
    db, ph = connect(sys.argv[1])
    sizes = rows(db, "SELECT session_id, COUNT(*) FROM ttp_tag WHERE session_id IS NOT NULL "
                     "GROUP BY session_id ORDER BY COUNT(*)", ())
    busiest = [s for s, _ in sizes[-50:]]
    median = sizes[len(sizes) // 2]
    print(f"sessions with tags {len(sizes)}; median {median[1]} tags; busiest {sizes[-1][1]} tags")
    for name, ids in (("median session", [median[0]]), ("busiest session", [busiest[-1]]),
                      ("50 busiest in one statement", busiest)):
        p = ", ".join([ph] * len(ids))
        out = []
        for sql in (TAGS, SUMMARY):
            sql = sql.format(p=p)
            xs = []
            for _ in range(200):
                t0 = time.perf_counter()
                got = rows(db, sql, ids)
                xs.append(time.perf_counter() - t0)
            canon = sorted(tuple(str(v) for v in r[:5]) + (str(float(r[7])),) for r in got)
            out.append((statistics.median(xs) * 1000, len(got), canon))
        (a, n, ra), (b, m, rb) = out
        print(f"{name}: tags {a:.3f} ms, summary {b:.3f} ms ({a / b:.1f}x), {n} / {m} groups; same rows: {ra == rb}")


main()
