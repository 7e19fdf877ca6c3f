#!/usr/bin/env bash
# The ttpgraph benchmark, one command: bench/run.sh [sqlite|mysql|all] [options]
# (bench/run.sh --help lists the options; BENCHMARKS.md explains the results).
#
# Installs what it needs (wrk from Debian's packages when missing, DECNET's Python stack in
# bench/.venv-decnet), builds the release server and the benchmark helper, then runs
# bench/bench.py, which builds or reuses the fleet under bench/data/, starts and stops the
# server itself, and writes bench/out/<timestamp>-<dialect>.md.
#
# Your own DECNET database instead of the generated fleet (read-only unless --allow-writes):
#   bench/run.sh --database-url sqlite:///var/lib/decnet/decnet.db
#   bench/run.sh --database-url mysql://user:pass@host:3306/decnet
# The report names its shape (attackers per identity, tags per scope).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '%s\n' "$*"; }
run() { say "  \$ $*"; "$@"; }

if ! command -v wrk >/dev/null 2>&1; then
  say "wrk is missing: installing it from Debian's packages"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  run $SUDO apt-get update -qq
  run $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
command -v python3 >/dev/null 2>&1 || { say "FAILED: python3 (3.9 or later) is needed"; exit 1; }

# MariaDB's default 128 MiB buffer pool turns a 1M-tag fleet (14 secondary indexes)
# into a disk-bound benchmark; any real deployment sizes it. Raise it (online, until
# the server restarts) when the MySQL side will run.
# (Not for --database-url: a user's server is left as it is.)
case "$*" in *--database-url*) target=external ;; *) target="${1:-all}" ;; esac
case "$target" in
  mysql|all|-*)
    if command -v mysql >/dev/null 2>&1; then
      pool=$(mysql -uroot -h127.0.0.1 -N -e "SELECT @@innodb_buffer_pool_size" 2>/dev/null || echo 0)
      if [ "${pool:-0}" -lt 2147483648 ]; then
        run mysql -uroot -h127.0.0.1 -e "SET GLOBAL innodb_buffer_pool_size = 4294967296"
      fi
    fi
    ;;
esac

# DECNET's own repository code (bench/decnet/run.py) runs after the reads, in a venv of its
# own with pinned versions, rebuilt when bench/decnet/requirements.txt changes.
case " $* " in
  *" --no-decnet "*|*" --report "*|*" --help "*|*" -h "*) ;;
  *)
    venv=bench/.venv-decnet req=bench/decnet/requirements.txt
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      say "FAILED: DECNET's code needs Python 3.11 or later, as DECNET does ($(python3 --version) here);"
      say "        bench/run.sh --no-decnet compares with the figures of issue 5 instead"
      exit 1
    fi
    if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/requirements.txt"; then
      say "creating $venv for DECNET's repository code (pip, from $req)"
      rm -rf "$venv"
      if ! { python3 -m venv "$venv" &&
             "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" &&
             cp "$req" "$venv/requirements.txt"; }; then
        say "FAILED: could not create $venv (python3 -m venv and pip from PyPI are needed);"
        say "        bench/run.sh --no-decnet compares with the figures of issue 5 instead"
        exit 1
      fi
    fi
    ;;
esac

say "building the release server and the benchmark helper"
run cargo build --release --locked --features bench --bin ttpgraph --example bench_floor

exec python3 bench/bench.py "$@"
