#!/usr/bin/env bash
# Sets up whatever is missing and runs the whole suite: ruff, migrations check, pytest
# against the real PostgreSQL+PostGIS, Redis, Celery workers and headless Chromium.
#   scripts/test.sh            everything (what .ci/run runs)
#   scripts/test.sh --fast     skips the tests marked worker, browser, sam2 and fuzz (a quick local lane)
#   scripts/test.sh -k tiles   extra arguments go to pytest
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
if [ $FAST -eq 1 ]; then
  .venv/bin/pytest -m "not worker and not browser and not sam2 and not fuzz" "$@"
else
  .venv/bin/pytest "$@"
fi
