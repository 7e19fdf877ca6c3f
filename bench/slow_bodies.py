#!/usr/bin/env python3
"""Slow request bodies against a running ttpgraph (issue 14, D.1). Starts nothing itself.

Opens N sockets (default 64) that each send a POST /graphql header announcing a body and
then trickle that body at 1 byte/s; meanwhile a normal query `{ tactics { id } }` is sent
every --probe-interval seconds. Reports, after --duration seconds (default 30) at most:

  * the probes' status codes and latency (p50/p95/max): before the fix every probe was a
    503 while the tricklers held the execution permits; after it they are 200s;
  * what the tricklers got back (408 after the body deadline, 503 past the body-read
    bound, or nothing yet) and when;
  * the server's RSS (VmRSS of --pid) before, at its peak, and at the end.

Loopback only. Standard library only. Example, against a release build started with
`ttpgraph serve --demo` in another terminal:

    python3 bench/slow_bodies.py --pid "$(pgrep -n ttpgraph)"
"""

from __future__ import annotations

import argparse
import collections
import http.client
import ipaddress
import json
import os
import selectors
import socket
import statistics
import sys
import threading
import time
import urllib.parse

QUERY = json.dumps({"query": "{ tactics { id } }"}).encode()


def rss_kib(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Trickler:
    """One socket sending a body one byte per second."""

    def __init__(self, host: str, port: int, path: str, headers: dict[str, str], body_len: int):
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.setblocking(False)
        head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}",
                "Content-Type: application/json", f"Content-Length: {body_len}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        self.opened = time.monotonic()
        self.body = b'{"query":"{ ' + b" " * body_len
        self.sent = 0
        self.body_len = body_len
        self.answer = b""
        self.status: str | None = None  # status code, "closed" or "reset"
        self.answered_after: float | None = None

    def done(self) -> bool:
        return self.status is not None

    def send_byte(self) -> None:
        if self.done() or self.sent >= self.body_len:
            return
        try:
            self.sent += self.sock.send(self.body[self.sent:self.sent + 1])
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.finish("reset")

    def on_readable(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.finish("reset")
            return
        if not chunk:
            self.finish("closed")
            return
        self.answer += chunk
        if b"\r\n" in self.answer and self.status is None:
            line = self.answer.split(b"\r\n", 1)[0].decode(errors="replace")
            parts = line.split()
            self.finish(parts[1] if len(parts) > 1 else line)

    def finish(self, status: str) -> None:
        if self.status is None:
            self.status = status
            self.answered_after = time.monotonic() - self.opened

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def trickle(tricklers: list[Trickler], stop: threading.Event) -> None:
    sel = selectors.DefaultSelector()
    for t in tricklers:
        sel.register(t.sock, selectors.EVENT_READ, t)
    next_byte = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if now >= next_byte:
            for t in tricklers:
                t.send_byte()
            next_byte = now + 1.0
        for key, _ in sel.select(timeout=max(0.0, min(0.2, next_byte - time.monotonic()))):
            t = key.data
            t.on_readable()
            if t.done():
                try:
                    sel.unregister(t.sock)
                except (KeyError, ValueError):
                    pass
    sel.close()


def probe(host: str, port: int, path: str, headers: dict[str, str], timeout: float) -> tuple[str, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", path, body=QUERY,
                     headers={"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        resp.read()
        status = str(resp.status)
    except (OSError, http.client.HTTPException) as e:
        status = type(e).__name__
    finally:
        conn.close()
    return status, time.monotonic() - started


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080/graphql",
                    help="the /graphql URL (loopback only)")
    ap.add_argument("--pid", type=int, help="server pid, for VmRSS")
    ap.add_argument("--sockets", type=int, default=64, help="trickling sockets (default 64)")
    ap.add_argument("--duration", type=float, default=30.0,
                    help="seconds to run, at most (default 30)")
    ap.add_argument("--body-bytes", type=int, default=1000,
                    help="announced body length (default 1000: never completes in time)")
    ap.add_argument("--probe-interval", type=float, default=0.5)
    ap.add_argument("--probe-timeout", type=float, default=10.0)
    ap.add_argument("--token", default=os.environ.get("TTPGRAPH_TOKEN"),
                    help="bearer token when the server has a secret [env: TTPGRAPH_TOKEN]")
    args = ap.parse_args()

    u = urllib.parse.urlsplit(args.url)
    host, port, path = u.hostname or "", u.port or 80, u.path or "/graphql"
    if u.scheme != "http" or not is_loopback(host):
        print(f"refusing {args.url}: plain http on a loopback address only", file=sys.stderr)
        return 2
    duration = min(max(args.duration, 1.0), 120.0)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}

    rss_before = rss_kib(args.pid)
    rss_peak = rss_before or 0
    started = time.monotonic()
    tricklers: list[Trickler] = []
    refused_at_connect = collections.Counter()
    for _ in range(args.sockets):
        try:
            tricklers.append(Trickler(host, port, path, headers, args.body_bytes))
        except OSError as e:
            refused_at_connect[type(e).__name__] += 1
    stop = threading.Event()
    thread = threading.Thread(target=trickle, args=(tricklers, stop), daemon=True)
    thread.start()
    time.sleep(min(1.0, duration / 4))  # let the tricklers take their slots first

    probes: list[tuple[float, str, float]] = []
    while time.monotonic() - started < duration:
        at = time.monotonic() - started
        status, took = probe(host, port, path, headers, args.probe_timeout)
        probes.append((at, status, took))
        rss = rss_kib(args.pid)
        if rss:
            rss_peak = max(rss_peak, rss)
        if all(t.done() for t in tricklers) and len(probes) >= 10:
            break
        time.sleep(max(0.0, args.probe_interval - took))
    stop.set()
    thread.join(timeout=5)
    rss_end = rss_kib(args.pid)
    for t in tricklers:
        t.close()

    print(f"target {args.url}; {len(tricklers)} trickling sockets at 1 byte/s "
          f"(announced {args.body_bytes} bytes); ran {time.monotonic() - started:.1f} s")
    if refused_at_connect:
        print(f"  sockets that could not connect: {dict(refused_at_connect)}")
    codes = collections.Counter(s for _, s, _ in probes)
    lat = [took * 1000 for _, _, took in probes]
    print(f"probe `{{ tactics {{ id }} }}`: {len(probes)} sent, statuses {dict(codes)}")
    if lat:
        print(f"  latency ms: p50 {statistics.median(lat):.1f}, p95 {pct(lat, 95):.1f}, "
              f"max {max(lat):.1f}")
        ok = [at for at, s, _ in probes if s == "200"]
        if ok:
            print(f"  first 200 at {ok[0]:.1f} s")
    outcome = collections.Counter(t.status or "pending" for t in tricklers)
    print(f"tricklers: {dict(outcome)}")
    for status in sorted(s for s in outcome if s != "pending"):
        times = [t.answered_after for t in tricklers if t.status == status and t.answered_after]
        if times:
            print(f"  {status}: after {min(times):.1f}..{max(times):.1f} s "
                  f"(median {statistics.median(times):.1f} s)")
    if args.pid is not None:
        fmt = lambda k: "?" if k is None else f"{k / 1024:.1f} MiB"  # noqa: E731
        print(f"server RSS: before {fmt(rss_before)}, peak {fmt(rss_peak or None)}, "
              f"end {fmt(rss_end)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
