"""Settings come from the environment; a bad value stops start-up naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from backend import env
from tests.support.rasters import REPO


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("FALSE", False), ("1", True), ("off", False)])
def test_env_bool_accepts_only_true_and_false_words(monkeypatch, raw, expected):
    monkeypatch.setenv("GP_FLAG", raw)
    assert env.env_bool("GP_FLAG", not expected) is expected


@pytest.mark.parametrize(
    ("reader", "raw"),
    [
        (lambda: env.env_bool("GP_X", False), "maybe"),
        (lambda: env.env_int("GP_X", 1), "12MB"),
        (lambda: env.env_int("GP_X", 1, minimum=1), "0"),
        (lambda: env.env_choice("GP_X", "a", ["a", "b"]), "c"),
        (lambda: env.env_url("GP_X", "redis://x", ("redis",)), "http://x"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, reader, raw):
    monkeypatch.setenv("GP_X", raw)
    with pytest.raises(ImproperlyConfigured, match="GP_X"):
        reader()


def test_a_secret_is_read_from_its_file_variant(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("GP_SECRET", "from-env")
    monkeypatch.setenv("GP_SECRET_FILE", str(secret))
    assert env.env_secret("GP_SECRET") == "from-a-file"


def test_a_missing_secret_without_default_fails(monkeypatch):
    monkeypatch.delenv("GP_SECRET", raising=False)
    monkeypatch.delenv("GP_SECRET_FILE", raising=False)
    with pytest.raises(ImproperlyConfigured, match="GP_SECRET"):
        env.env_secret("GP_SECRET")


def test_database_url_must_be_postgres():
    with pytest.raises(ImproperlyConfigured, match="GEOPROMPT_DATABASE_URL"):
        env.database_from_url("GEOPROMPT_DATABASE_URL", "sqlite:///db.sqlite3")
    entry = env.database_from_url("GEOPROMPT_DATABASE_URL", "postgres://u:p@db.internal:6543/gp")
    assert (entry["NAME"], entry["USER"], entry["PASSWORD"], entry["HOST"], entry["PORT"]) == (
        "gp",
        "u",
        "p",
        "db.internal",
        "6543",
    )


def test_production_start_without_a_secret_key_fails_loudly():
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("GEOPROMPT_SECRET_KEY")}
    child_env.update({"GEOPROMPT_DEBUG": "false", "DJANGO_SETTINGS_MODULE": "backend.settings"})
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "GEOPROMPT_SECRET_KEY" in result.stderr


def test_env_example_documents_every_setting_variable():
    import re

    source = (REPO / "backend" / "settings.py").read_text() + (REPO / "backend" / "gunicorn.conf.py").read_text()
    used = set(re.findall(r'"(GEOPROMPT_[A-Z0-9_]+)"', source))
    documented = set(re.findall(r"^#?\s*(GEOPROMPT_[A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M))
    assert used - documented == set()


def test_the_web_servers_defaults_give_one_queue_for_every_process(monkeypatch):
    import os
    import runpy

    for name in ("GEOPROMPT_WEB_WORKERS", "GEOPROMPT_WEB_THREADS", "GEOPROMPT_WEB_BIND"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(REPO / "backend" / "gunicorn.conf.py"))
    assert conf["workers"] == os.cpu_count() + 1 and conf["threads"] == 1
    # A process takes a connection only with a thread free, and never keeps an idle one.
    assert conf["worker_class"] == "gthread" and conf["worker_connections"] == conf["threads"]
    assert conf["keepalive"] == 0 and conf["bind"] == "127.0.0.1:8000"
    monkeypatch.setenv("GEOPROMPT_WEB_THREADS", "3")
    assert runpy.run_path(str(REPO / "backend" / "gunicorn.conf.py"))["worker_connections"] == 3
    monkeypatch.setenv("GEOPROMPT_WEB_WORKERS", "0")
    with pytest.raises(ValueError, match="GEOPROMPT_WEB_WORKERS must be at least 1"):
        runpy.run_path(str(REPO / "backend" / "gunicorn.conf.py"))
