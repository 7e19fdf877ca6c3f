#!/usr/bin/env bash
# The first ten minutes, measured: a fresh clone of HEAD built cold into a scratch target
# directory, as the README's two commands do it (`cargo run -- serve --demo`, then
# `cargo test`), then (with --release) the release binary. Prints CPU seconds (user+sys)
# and wall seconds per step, time to the first answered query, the disk used, and the
# release binary's size; deletes the clone and the target directory at the end.
#
#   bench/first-run.sh [--release] [--keep DIR]   # MySQL tests run when TTPGRAPH_TEST_MYSQL_URL is set
#
# --keep DIR moves the scratch target directory to DIR at the end instead of deleting it
# (to reuse the cold build afterwards).
#
# CPU seconds are what to compare across machines; wall time depends on what else runs.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
release=0
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --release) release=1 ;;
    --keep) keep="$2"; shift ;;
    *) echo "usage: $0 [--release] [--keep DIR]" >&2; exit 2 ;;
  esac
  shift
done
scratch="$(mktemp -d /tmp/ttpgraph-first-run.XXXXXX)"
cleanup() {
  if [ -n "$keep" ] && [ -d "$scratch/target" ]; then rm -rf "$keep"; mv "$scratch/target" "$keep"; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
git clone -q "$repo" "$scratch/src"
cd "$scratch/src"
export CARGO_TARGET_DIR="$scratch/target"
unset CARGO_BUILD_JOBS RUSTFLAGS
log="$scratch/time.log"

step() { # name, command...
  local name="$1"; shift
  /usr/bin/time -o "$log" -f "%e %U %S" "$@" >"$scratch/$name.out" 2>&1 || {
    echo "$name failed:"; tail -30 "$scratch/$name.out"; exit 1; }
  read -r wall user sys <"$log"
  printf '%-28s wall %7.1f s   cpu %7.1f s (user %.1f + sys %.1f)\n' \
    "$name" "$wall" "$(echo "$user + $sys" | bc)" "$user" "$sys"
}
disk() { printf '%-28s %s\n' "target/ after $1" "$(du -sh "$CARGO_TARGET_DIR" | cut -f1)"; }

echo "commit $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
step "cargo build (dev)" cargo build --locked --bin ttpgraph
disk "cargo build"
# Time to the first answer: the server fills the demo fleet, then answers a query.
db="$scratch/demo.db"
port=$((20000 + RANDOM % 20000))
"$CARGO_TARGET_DIR/debug/ttpgraph" serve --demo --listen "127.0.0.1:$port" \
  --database-url "sqlite://$db" >"$scratch/serve.out" 2>&1 &
server=$!
query='{"query":"{ attackers(first: 1) { nodes { ip techniques { techniqueId } } } }"}'
until curl -sf "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' \
  -d "$query" 2>/dev/null | grep -q techniqueId; do
  kill -0 "$server" 2>/dev/null || { echo "server died:"; tail "$scratch/serve.out"; exit 1; }
  sleep 0.2
done
answered=$(date +%s.%N)
kill "$server"; wait "$server" 2>/dev/null || true
printf '%-28s %.0f s from clone (build + demo fill + query)\n' "first answer" \
  "$(echo "$answered - $start" | bc)"
step "cargo test --no-run" cargo test --locked --no-run
disk "cargo test build"
step "cargo test (run)" cargo test --locked
printf '%-28s %.0f s from clone\n' "green" "$(echo "$(date +%s.%N) - $start" | bc)"
grep -E "^test result" "$scratch/cargo test (run).out" | sed 's/^/  /'
if [ "$release" = 1 ]; then
  step "cargo build --release" cargo build --locked --release --bin ttpgraph
  printf '%-28s %s bytes\n' "release binary" "$(stat -c %s "$CARGO_TARGET_DIR/release/ttpgraph")"
  disk "release build"
fi
