#!/usr/bin/env python3
"""Export latency and memory (issue 11), rerunnable:

    bench/exports.py BINARY DATABASE_URL [--runs 20]

Serves DATABASE_URL (a fleet `ttpgraph demo` built) with BINARY in open mode on a free
loopback port, then, one request at a time:
  - the identity rollup (GraphQL `identity { techniques }`) of the most-tagged identity
    of the first page, and its attacker with the most tags: median of --runs;
  - the identity and attacker exports (Navigator, STIX, MISP) of the same ids: median;
  - the fleet STIX bundle, fleet MISP list and both fleet layers once each: wall time,
    body size, and the server's peak RSS (VmHWM) before and after.
Prints a Markdown table for BENCHMARKS.md.
"""
import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) // 1024
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("database_url")
    p.add_argument("--runs", type=int, default=20)
    a = p.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [a.binary, "serve", "--database-url", a.database_url, "--listen", f"127.0.0.1:{port}",
         "--max-response-bytes", str(256 << 20),
         # The rollup it compares with would otherwise be answered from the response
         # cache after its first run: compare what each request costs to compute.
         "--response-cache-mib", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except Exception:
                time.sleep(0.2)

        def get(path):
            t = time.perf_counter()
            with urllib.request.urlopen(base + path, timeout=3600) as r:
                n = 0
                while chunk := r.read(1 << 20):
                    n += len(chunk)
            return time.perf_counter() - t, n

        def gql(query, variables):
            body = json.dumps({"query": query, "variables": variables}).encode()
            req = urllib.request.Request(base + "/graphql", body, {"content-type": "application/json"})
            t = time.perf_counter()
            with urllib.request.urlopen(req, timeout=600) as r:
                out = json.loads(r.read())
            return time.perf_counter() - t, out

        _, page = gql("{ identities(first: 20) { nodes { id techniques { count } attackers { id techniques { count } } } } }", {})
        nodes = page["data"]["identities"]["nodes"]
        ident = max(nodes, key=lambda n: sum(t["count"] for t in n["techniques"]))
        attacker = max(ident["attackers"], key=lambda n: sum(t["count"] for t in n["techniques"]))
        tags_i = sum(t["count"] for t in ident["techniques"])
        tags_a = sum(t["count"] for t in attacker["techniques"])

        def median(f):
            f()
            return statistics.median(f() for _ in range(a.runs)) * 1000

        rollup = median(lambda: gql("query($id: ID!) { identity(id: $id) { techniques { techniqueId subTechniqueId count firstSeen lastSeen confidenceMax } } }", {"id": ident["id"]})[0])
        rows = [("identity rollup (GraphQL `techniques`)", rollup, None)]
        for name, path in [
            ("identity Navigator (DECNET route)", f"/api/v1/ttp/export/navigator/identity/{ident['id']}"),
            ("identity Navigator (ours)", f"/api/v1/ttp/export/layer/identity/{ident['id']}"),
            ("identity STIX", f"/api/v1/identities/{ident['id']}/export/stix"),
            ("identity MISP", f"/api/v1/identities/{ident['id']}/export/misp"),
            ("attacker STIX", f"/api/v1/attackers/{attacker['id']}/export/stix"),
            ("attacker MISP", f"/api/v1/attackers/{attacker['id']}/export/misp"),
        ]:
            rows.append((name, median(lambda: get(path)[0]), get(path)[1]))
        print(f"identity {ident['id']} ({tags_i} tags), attacker {attacker['id']} ({tags_a} tags), median of {a.runs}\n")
        print("| request | p50 ms | × rollup | body bytes |\n| --- | ---: | ---: | ---: |")
        for name, ms, size in rows:
            print(f"| {name} | {ms:.2f} | {ms / rollup:.1f}× | {size if size is not None else ''} |")
        print("\n| fleet document | time s | body MB | server RSS before → after MiB | peak RSS (VmHWM) MiB |\n| --- | ---: | ---: | ---: | ---: |")
        for name, path in [
            ("Navigator (DECNET route)", "/api/v1/ttp/export/navigator"),
            ("Navigator (ours)", "/api/v1/ttp/export/layer"),
            ("STIX bundle (streamed)", "/api/v1/attackers/export/stix"),
            ("MISP events (streamed)", "/api/v1/attackers/export/misp"),
        ]:
            before = vm(server.pid, "VmRSS")
            secs, size = get(path)
            print(f"| {name} | {secs:.2f} | {size / 1e6:.1f} | {before} → {vm(server.pid, 'VmRSS')} | {vm(server.pid, 'VmHWM')} |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
