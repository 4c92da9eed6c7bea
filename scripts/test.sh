#!/usr/bin/env bash
# Sets up whatever is missing and runs the whole suite: ruff, migrations check, pytest
# against the real PostgreSQL+PostGIS, Redis, Celery worker and headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-browser

export GEOPROMPT_DEBUG=true
export GEOPROMPT_REDIS_URL=${GEOPROMPT_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
export GEOPROMPT_SAM2_ALLOW_UNTRAINED=true
export GEOPROMPT_SHARED_DATA=${GEOPROMPT_SHARED_DATA:-$PWD/../shared/data}

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== migrations"
.venv/bin/python manage.py makemigrations --check --dry-run
echo "== pytest"
.venv/bin/pytest "$@"
