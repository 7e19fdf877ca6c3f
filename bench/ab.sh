#!/usr/bin/env bash
# Interleaved A/B of two ttpgraph builds (SQLite, or MariaDB given by URL): the same wrk load against build A, then
# build B, for a few rounds, so that a shared machine's drift hits both alike (full runs of
# bench/run.sh one after the other swing by ±20 % here). Loopback only.
#
#   bench/ab.sh A_BIN A_DB B_BIN B_DB BODIES_DIR [ROUNDS]
#
# BODIES_DIR is a run's bench/out/<stamp>-sqlite/ folder: the first request body of each
# *.bodies.jsonl there is sent (identity_max, attacker, session, inspector, typename).
# Each database must be one its build can open (a newer migration makes an older build
# refuse it): give each build its own copy of the fleet. A database given as a URL
# (mysql://…) is used as it is, e.g. the MariaDB fleet for both builds when they share
# its migrations.
# Environment: OPS (space-separated, default below) picks the operations; SERVE_ARGS is
# passed to both servers (e.g. "--response-cache-mib 0" to compare computed answers).
set -euo pipefail
[ $# -ge 5 ] || { sed -n 2,11p "$0"; exit 2; }
A_BIN=$1 A_DB=$2 B_BIN=$3 B_DB=$4 BODIES=$5 ROUNDS=${6:-3}
read -r -a OPS <<<"${OPS:-identity_max attacker session inspector typename}"
read -r -a SERVE <<<"${SERVE_ARGS:-}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY_FILE"), "r")
wrk.body = f:read("*l")
f:close()
LUA
for op in "${OPS[@]}"; do head -n 1 "$BODIES/$op.bodies.jsonl" >"$tmp/$op.json"; done

one() { # BIN DB PORT -> "op=req/s ..."
  local url=$2
  case "$url" in *://*) ;; *) url="sqlite://$url" ;; esac
  "$1" serve --database-url "$url" --listen "127.0.0.1:$3" "${SERVE[@]}" >"$tmp/serve-$3.log" 2>&1 &
  local pid=$! out=""
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$3/readyz" >/dev/null && break; sleep 0.1; done
  for op in "${OPS[@]}"; do
    BODY_FILE="$tmp/$op.json" wrk -t2 -c16 -d1s -s "$tmp/post.lua" "http://127.0.0.1:$3/graphql" >/dev/null
    out+=" $op=$(BODY_FILE="$tmp/$op.json" wrk -t2 -c16 -d5s -s "$tmp/post.lua" \
      "http://127.0.0.1:$3/graphql" | awk '/Requests\/sec/ {print $2}')"
  done
  # A server that does not stop within 10 s is killed (and said so: that is a defect).
  kill "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then echo "  ($1 did not stop within 10 s: killed)" >&2; kill -9 "$pid"; fi
  wait "$pid" 2>/dev/null || true
  echo "$out"
}
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r A:$(one "$A_BIN" "$A_DB" 18191)"
  echo "round $r B:$(one "$B_BIN" "$B_DB" 18192)"
done
