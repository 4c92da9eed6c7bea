"""Typed readers for settings that come from environment variables.

Every reader raises :class:`ImproperlyConfigured` naming the variable when its value
cannot be parsed, so a bad deployment fails at start-up rather than at first use.
Nothing here has side effects (no folders created, no keys generated).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def env_str(name: str, default: str) -> str:
    """Return the variable as a string, or ``default`` when unset or empty."""
    value = os.environ.get(name, "")
    return value if value != "" else default


def env_secret(name: str, default: str | None = None) -> str:
    """Return a secret from ``NAME`` or from the file named by ``NAME_FILE``.

    The ``_FILE`` variant wins so that container secrets can be mounted as files.
    """
    file_name = os.environ.get(f"{name}_FILE", "")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name!r}: {exc}") from exc
    value = os.environ.get(name, "")
    if value:
        return value
    if default is None:
        raise ImproperlyConfigured(f"{name} (or {name}_FILE) must be set")
    return default


def env_bool(name: str, default: bool) -> bool:
    """Return the variable as a boolean; only true/false/1/0/yes/no/on/off are accepted."""
    value = os.environ.get(name, "").strip().lower()
    if value == "":
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected true or false, got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """Return the variable as an integer, optionally bounded below."""
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {number}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    """Return the variable as a float, optionally bounded below."""
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    """Return a comma-separated variable as a list of non-empty stripped strings."""
    value = os.environ.get(name, "")
    if value.strip() == "":
        return list(default)
    return [part.strip() for part in value.split(",") if part.strip()]


def env_choice(name: str, default: str, choices: list[str]) -> str:
    """Return the variable if it is one of ``choices``."""
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def env_url(name: str, default: str, schemes: tuple[str, ...]) -> str:
    """Return the variable if it parses as a URL with one of ``schemes``."""
    value = env_str(name, default)
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name}: expected a URL starting with {' or '.join(s + '://' for s in schemes)}, got {value!r}"
        )
    return value


def database_from_url(name: str, url: str) -> dict:
    """Translate ``postgres://user:pass@host:port/dbname`` into a Django DATABASES entry.

    Only PostgreSQL (with PostGIS) is supported: GeoDjango needs spatial SQL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "postgis"):
        raise ImproperlyConfigured(f"{name}: only postgres:// URLs are supported, got {url!r}")
    db_name = parts.path.lstrip("/")
    if not db_name:
        raise ImproperlyConfigured(f"{name}: the URL names no database: {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name}: bad port in {url!r}") from None
    return {
        "ENGINE": "django.contrib.gis.db.backends.postgis",
        "NAME": db_name,
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
