#!/usr/bin/env bash
# Sets up whatever is missing and runs the whole suite: ruff, migrations check, pytest
# against the real PostgreSQL+PostGIS, Redis, Celery workers and headless Chromium.
#   scripts/test.sh            everything (what .ci/run runs)
#   scripts/test.sh --fast     skips the tests marked worker, browser, sam2 and fuzz (a quick local lane)
#   scripts/test.sh -k tiles   extra arguments go to pytest (one process)
# The whole suite runs as GEOPROMPT_TEST_SHARDS (default 2) pytest processes side by side,
# files split by measured time (tests/support/shards.py), each with its own test database,
# Redis database and temporary folder, so that one shard's workers never see the other's.
set -euo pipefail
cd "$(dirname "$0")/.."
FAST=0
if [ "${1:-}" = "--fast" ]; then
  FAST=1
  shift
fi
if [ $FAST -eq 1 ]; then scripts/setup.sh; else scripts/setup.sh --with-browser; fi

export GEOPROMPT_DEBUG=true
# The suite gets a Redis server of its own (a free port, nothing kept on disk), so that its
# Celery workers never share a queue with the running app or with another test run.
# GEOPROMPT_TEST_REDIS_URL names an existing one instead.
if [ -z "${GEOPROMPT_TEST_REDIS_URL:-}" ]; then
  REDIS_PORT=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  REDIS_DIR=$(mktemp -d -t geoprompt-test-redis-XXXXXX)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  trap 'kill "$(cat "$REDIS_DIR/redis.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$REDIS_DIR"' EXIT
  for _ in $(seq 300); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$REDIS_PORT" ping >/dev/null || { echo "the test Redis did not start:"; cat "$REDIS_DIR/redis.log"; exit 1; }
  GEOPROMPT_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/15
fi
export GEOPROMPT_REDIS_URL=$GEOPROMPT_TEST_REDIS_URL
export GEOPROMPT_SAM2_ALLOW_UNTRAINED=true

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== migrations"
.venv/bin/python manage.py makemigrations --check --dry-run
echo "== pytest"
SHARDS=${GEOPROMPT_TEST_SHARDS:-2}
if [ $FAST -eq 1 ]; then
  .venv/bin/pytest -m "not worker and not browser and not sam2 and not fuzz" "$@"
elif [ $# -gt 0 ] || [ "$SHARDS" -le 1 ]; then
  .venv/bin/pytest "$@"
else
  case "$GEOPROMPT_TEST_REDIS_URL" in
    */[0-9]*) FIRST_DB=${GEOPROMPT_TEST_REDIS_URL##*/} ;;
    *) echo "GEOPROMPT_TEST_REDIS_URL must end in a database number (e.g. /15)"; exit 2 ;;
  esac
  [ "$FIRST_DB" -ge "$SHARDS" ] || { echo "Redis database $FIRST_DB: too low for $SHARDS shards (each takes the next lower one)"; exit 2; }
  SHARD_DIR=$(mktemp -d -t geoprompt-test-shards-XXXXXX)
  pids=()
  # Each step may fail (a shard already gone) without skipping the next: set -e holds in traps.
  trap 'kill "${pids[@]}" 2>/dev/null || true; kill "$(cat "${REDIS_DIR:-/nonexistent}/redis.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "${REDIS_DIR:-}" "$SHARD_DIR"' EXIT
  for i in $(seq 1 "$SHARDS"); do
    mkdir -p "$SHARD_DIR/tmp$i/geoprompt"
    (
      export GEOPROMPT_TEST_SHARD="$i/$SHARDS"
      export GEOPROMPT_REDIS_URL="${GEOPROMPT_TEST_REDIS_URL%/*}/$((FIRST_DB - i + 1))"
      export TMPDIR="$SHARD_DIR/tmp$i" GEOPROMPT_TEMP_DIR="$SHARD_DIR/tmp$i/geoprompt"
      exec .venv/bin/pytest -p no:cacheprovider
    ) > "$SHARD_DIR/shard$i.log" 2>&1 &
    pids+=($!)
  done
  status=0
  for i in $(seq 1 "$SHARDS"); do
    wait "${pids[$((i - 1))]}" || status=1
    echo "== pytest shard $i/$SHARDS"
    cat "$SHARD_DIR/shard$i.log"
  done
  exit $status
fi
