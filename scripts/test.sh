#!/usr/bin/env bash
# Sets up whatever is missing and runs the whole suite: ruff, migrations check, pytest
# against the real PostgreSQL+PostGIS, Redis, Celery workers and headless Chromium.
#   scripts/test.sh            everything (what .ci/run runs)
#   scripts/test.sh --fast     skips the tests marked worker, browser and sam2 (a quick local lane)
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
export GEOPROMPT_REDIS_URL=${GEOPROMPT_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
export GEOPROMPT_SAM2_ALLOW_UNTRAINED=true

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== migrations"
.venv/bin/python manage.py makemigrations --check --dry-run
echo "== pytest"
if [ $FAST -eq 1 ]; then
  .venv/bin/pytest -m "not worker and not browser and not sam2" "$@"
else
  .venv/bin/pytest "$@"
fi
