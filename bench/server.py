"""The release server under test: start it and time it to /readyz, stop it, read its
/proc status and scrape the counters of its /metrics."""

from __future__ import annotations

import http.client
import os
import re
import zlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from common import CHILDREN, TTPGRAPH, show_cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readyz(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
            return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Server:
    def __init__(self, url: str, port: int, log_path: Path, a):
        self.url, self.port, self.log_path = url, port, log_path
        self.cmd = [
            TTPGRAPH, "serve", "--database-url", url, "--listen", f"127.0.0.1:{port}",
            "--max-body-bytes", str(a.max_body_bytes),
            "--response-cache-mib", str(getattr(a, "response_cache_mib", 0)),
        ]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float, quiet=False) -> float:
        """Starts the server; returns seconds from spawn to the first 200 on /readyz."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("TTPGRAPH_JWT_SECRET", "DECNET_JWT_SECRET", "TTPGRAPH_DATABASE_URL",
                            "DATABASE_URL", "TTPGRAPH_LISTEN")}
        if not quiet:
            show_cmd(self.cmd)
        logf = open(self.log_path, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([str(c) for c in self.cmd], env=env, stdout=logf, stderr=logf)
        CHILDREN.append(self.proc)
        while True:
            if readyz(self.port):
                return time.perf_counter() - t0
            if self.proc.poll() is not None:
                self.fail(f"the server exited with {self.proc.returncode} before it was ready")
            if time.perf_counter() - t0 > timeout:
                self.fail(f"the server was not ready after {timeout:.0f} s")
            time.sleep(0.001)

    def fail(self, why: str):
        tail = self.log_path.read_text(errors="replace").splitlines()[-40:]
        sys.stderr.write("\n".join(line[:400] for line in tail) + "\n")
        raise SystemExit(f"FAILED: {why} ({self.log_path})")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def status(self) -> dict:
        out = {}
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                    out[k] = int(v.split()[0]) / 1024.0  # MiB
        except OSError:
            pass
        return out

    def metrics(self) -> str:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", "/metrics")
        body = c.getresponse().read().decode()
        c.close()
        return body

    def post(self, body: str, gzip: bool = False) -> tuple[int, bytes]:
        status, data, _ = self.post_encoded(body, gzip)
        return status, data

    def post_encoded(self, body: str, gzip: bool) -> tuple[int, bytes, int]:
        """POSTs `body`, with `Accept-Encoding: gzip` when `gzip`: the status, the answer
        (decompressed; a gzip request must get a gzip answer) and its size on the wire."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"content-type": "application/json"}
        if gzip:
            headers["accept-encoding"] = "gzip"
        c.request("POST", "/graphql", body=body.encode(), headers=headers)
        r = c.getresponse()
        data = r.read()
        encoding = r.getheader("content-encoding")
        c.close()
        wire = len(data)
        if gzip and r.status == 200 and encoding is not None:
            if encoding != "gzip":
                raise SystemExit(f"FAILED: asked for gzip, got Content-Encoding {encoding!r}")
            data = zlib.decompress(data, 16 + zlib.MAX_WBITS)
        elif gzip and len(data) >= 1024:
            raise SystemExit(f"FAILED: asked for gzip, got a plain answer of {len(data)} bytes")
        return r.status, data, wire


def sql_statements(metrics: str) -> int:
    m = re.search(r"^ttpgraph_sql_statements_total (\d+)", metrics, re.M)
    if not m:
        raise SystemExit("FAILED: /metrics has no ttpgraph_sql_statements_total")
    return int(m.group(1))


def graphql_requests(metrics: str, operation: str) -> int:
    total = 0
    for m in re.finditer(r'^ttpgraph_graphql_requests_total\{([^}]*)\} (\d+)', metrics, re.M):
        if f'operation="{operation}"' in m.group(1):
            total += int(m.group(2))
    return total
