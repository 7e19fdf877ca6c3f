"""SQL-level before/after of the unfiltered identity rollup on a SQLite fleet: the old
summary union (0003 summaries, one attacker_rollup row per attacker x technique) vs the
identity-scope summary (0007). python3 bench/identity_sql_ab.py bench/data/fleet-sqlite.db"""
import sqlite3, sys, time, statistics
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA mmap_size=0")
cols = "r.technique_id, r.sub_key, r.tactic, r.tag_count, r.first_seen, r.last_seen, r.confidence_max"
OLD = f"""SELECT k, technique_id, NULLIF(sub_key,'') , MAX(tactic), CAST(SUM(tag_count) AS SIGNED), MIN(first_seen), MAX(last_seen), MAX(confidence_max)
FROM (SELECT r.identity_uuid AS k, {cols} FROM ttp_identity_rollup r WHERE r.identity_uuid IN (?)
      UNION ALL
      SELECT a.identity_id AS k, {cols} FROM attackers a CROSS JOIN ttp_attacker_rollup r ON r.attacker_uuid = a.uuid
      WHERE a.identity_id IN (?) AND r.identity_key <> a.identity_id) s
WHERE tag_count > 0 GROUP BY k, technique_id, sub_key"""
NEW = """SELECT r.identity_uuid AS k, r.technique_id, NULLIF(r.sub_key,''), MAX(r.tactic), CAST(SUM(r.tag_count) AS SIGNED), MIN(r.first_seen), MAX(r.last_seen), MAX(r.confidence_max)
FROM ttp_identity_scope_rollup r WHERE r.identity_uuid IN (?) AND r.tag_count > 0 GROUP BY r.identity_uuid, r.technique_id, r.sub_key"""
sizes = db.execute("""SELECT s.identity_uuid, SUM(s.tag_count), (SELECT COUNT(*) FROM attackers a WHERE a.identity_id = s.identity_uuid)
  FROM ttp_identity_scope_rollup s JOIN attacker_identities i ON i.uuid = s.identity_uuid GROUP BY s.identity_uuid ORDER BY 2""").fetchall()
med, mx = sizes[len(sizes)//2], sizes[-1]
print(f"identities with tags {len(sizes)}; median {med[1]} tags / {med[2]} attackers; most-tagged {mx[1]} tags / {mx[2]} attackers")
def t(sql, ident, args):
    xs = []
    for _ in range(300):
        t0 = time.perf_counter(); rows = db.execute(sql, args).fetchall(); xs.append(time.perf_counter() - t0)
    return statistics.median(xs) * 1000, len(rows)
for name, ident in (("median", med[0]), ("most-tagged", mx[0])):
    o = t(OLD, ident, (ident, ident)); n = t(NEW, ident, (ident,))
    ro = sorted(map(str, db.execute(OLD, (ident, ident)).fetchall())); rn = sorted(map(str, db.execute(NEW, (ident,)).fetchall()))
    print(f"{name}: old {o[0]:.3f} ms ({o[1]} groups), new {n[0]:.3f} ms ({n[1]} groups); same rows: {ro == rn}")
