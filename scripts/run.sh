#!/usr/bin/env bash
# Sets up whatever is missing, loads the demo, and runs web, worker and tiler until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

mkdir -p var/log
# A secret key made once for this checkout, kept out of git; shared by web, worker and tiler.
if [ ! -s var/secret_key ]; then
  .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
  chmod 600 var/secret_key
fi
export GEOPROMPT_SECRET_KEY_FILE=${GEOPROMPT_SECRET_KEY_FILE:-$PWD/var/secret_key}
export GEOPROMPT_SAM2_ALLOW_UNTRAINED=${GEOPROMPT_SAM2_ALLOW_UNTRAINED:-true}
WEB_PORT=${GEOPROMPT_WEB_PORT:-8000}
TILER_PORT=${GEOPROMPT_TILER_PORT:-8001}
export GEOPROMPT_TILER_URL=${GEOPROMPT_TILER_URL:-http://127.0.0.1:$TILER_PORT}

PY=.venv/bin/python
$PY manage.py migrate --noinput -v 0
$PY manage.py collectstatic --noinput -v 0
echo "Demo data:"
$PY manage.py load_demo

pids=()
stop() {
  echo; echo "stopping web, worker and tiler..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  exit 0
}
trap stop INT TERM

.venv/bin/celery -A backend worker -Q default,encode --concurrency 1 --loglevel INFO >var/log/worker.log 2>&1 &
pids+=($!)
.venv/bin/uvicorn backend.tiler:app --host 127.0.0.1 --port "$TILER_PORT" --workers 2 --log-level warning >var/log/tiler.log 2>&1 &
pids+=($!)
# Workers, threads and connection handling: backend/gunicorn.conf.py (GEOPROMPT_WEB_*).
GEOPROMPT_WEB_BIND="127.0.0.1:$WEB_PORT" .venv/bin/gunicorn -c backend/gunicorn.conf.py backend.wsgi \
  --access-logfile var/log/web-access.log >var/log/web.log 2>&1 &
pids+=($!)

for _ in $(seq 60); do curl -fs -o /dev/null "http://127.0.0.1:$WEB_PORT/login/" && break; sleep 0.5; done
echo
echo "Geoprompt is running: http://127.0.0.1:$WEB_PORT/  (log in with a demo user above)"
echo "API docs: http://127.0.0.1:$WEB_PORT/api/v1/docs/   tiles: $GEOPROMPT_TILER_URL   logs: var/log/"
echo "Press Ctrl-C to stop."
wait -n "${pids[@]}" || true
echo "a process exited; see var/log/"
stop
