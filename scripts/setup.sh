#!/usr/bin/env bash
# Installs whatever is missing on a Debian/Ubuntu machine and prepares the app:
# Debian packages, running PostgreSQL (+PostGIS) and Redis, the .venv with pinned
# requirements, the frontend bundle, and the database. Safe to run again: each step
# checks before it acts. Usage: scripts/setup.sh [--with-browser]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WITH_BROWSER=0
[ "${1:-}" = "--with-browser" ] && WITH_BROWSER=1

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# --- Debian packages --------------------------------------------------------------
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
PG_MAJOR=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
# Tools are checked by command (they may come from elsewhere, e.g. Node.js from
# NodeSource), libraries by package.
for pair in python3:python3 psql:postgresql pg_ctlcluster:postgresql redis-server:redis-server \
            gdalinfo:gdal-bin node:nodejs npm:npm cc:build-essential; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
for pkg in python3-venv python3-dev libgdal-dev libgeos-dev libproj-dev; do
  have "$pkg" || need+=("$pkg")
done
if [ $WITH_BROWSER -eq 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2046
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
  PG_MAJOR=$(ls /usr/lib/postgresql | sort -n | tail -1)
fi
if ! have "postgresql-${PG_MAJOR}-postgis-3"; then
  log "installing PostGIS for PostgreSQL ${PG_MAJOR}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "postgresql-${PG_MAJOR}-postgis-3" >/dev/null
fi

# --- services ---------------------------------------------------------------------
DB_HOST=127.0.0.1
if ! pg_isready -h "$DB_HOST" -q 2>/dev/null; then
  log "starting PostgreSQL ${PG_MAJOR}"
  if command -v pg_ctlcluster >/dev/null; then
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main start || $SUDO service postgresql start
  else
    $SUDO service postgresql start
  fi
  for _ in $(seq 30); do pg_isready -h "$DB_HOST" -q && break; sleep 1; done
fi
# A fresh Debian cluster only trusts the postgres OS user over the socket: give our
# TCP user a password-less login only if it cannot connect yet.
if ! psql -h "$DB_HOST" -U postgres -d postgres -Atc "select 1" >/dev/null 2>&1; then
  log "allowing local TCP connections for the postgres role (trust on 127.0.0.1)"
  HBA=$($SUDO -u postgres psql -Atc "show hba_file" 2>/dev/null || su postgres -c "psql -Atc 'show hba_file'")
  # First matching line wins, so the rule goes on top.
  $SUDO sed -i '1i host all postgres 127.0.0.1/32 trust' "$HBA"
  $SUDO -u postgres psql -c "select pg_reload_conf()" >/dev/null 2>&1 || su postgres -c "psql -c 'select pg_reload_conf()'" >/dev/null
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  log "starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/geoprompt.log
  for _ in $(seq 20); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

# --- Python environment -----------------------------------------------------------
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
STAMP=.venv/.requirements.sha256
WANT=$(cat requirements.txt requirements-sam2.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  log "installing Python requirements (torch is large: the first run takes several minutes)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt
  # sam2 compiles against the installed torch; its optional CUDA extension is skipped.
  SAM2_BUILD_CUDA=0 .venv/bin/pip install -q --no-build-isolation -r requirements-sam2.txt
  echo "$WANT" > "$STAMP"
fi

# --- frontend ---------------------------------------------------------------------
FSTAMP=frontend/dist/.lock.sha256
FWANT=$(find frontend/package-lock.json frontend/build.mjs frontend/src -type f -print0 | sort -z | xargs -0 cat | sha256sum | cut -d' ' -f1)
if [ "$(cat "$FSTAMP" 2>/dev/null)" != "$FWANT" ]; then
  log "building the frontend"
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
  echo "$FWANT" > "$FSTAMP"
fi

# --- database -----------------------------------------------------------------------
DB_NAME=$(.venv/bin/python - <<'PY'
import os
from urllib.parse import urlsplit
print(urlsplit(os.environ.get("GEOPROMPT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/geoprompt")).path.lstrip("/"))
PY
)
if ! psql -h "$DB_HOST" -U postgres -d postgres -Atc "select 1 from pg_database where datname='$DB_NAME'" | grep -q 1; then
  log "creating database $DB_NAME"
  psql -h "$DB_HOST" -U postgres -d postgres -qc "create database \"$DB_NAME\""
fi
psql -h "$DB_HOST" -U postgres -d "$DB_NAME" -qc "create extension if not exists postgis" >/dev/null
# The app's own folders; settings only name them (GEOPROMPT_TEMP_DIR defaults to var/tmp).
mkdir -p var/tmp var/log
log "ready ($ROOT)"
