"""Real parts for the browser tests: the Django live server, the tiler (uvicorn), headless
Debian Chromium through Playwright, and pages logged in as members of the cast.

Nothing is mocked: pages talk to the live server, tiles come from the tiler process, and
tests that need ingest or encoding start the real Celery worker (``celery_worker``).
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.processes import STATE_WAIT_S, TilerProcess, test_database_url
from tests.support.rasters import REPO

# Playwright's sync API runs an event loop in this thread; the test body's ORM calls are
# still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("GEOPROMPT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture(scope="session")
def shared_storage(tmp_path_factory) -> Path:
    """One storage root for the session: the tiler process reads the COGs from it."""
    return tmp_path_factory.mktemp("browser-storage")


@pytest.fixture(autouse=True)
def storage_root(settings, shared_storage):
    """Browser tests share the session's storage root with the tiler (overrides the suite's)."""
    settings.STORAGE_URL = str(shared_storage)
    return shared_storage


@pytest.fixture(scope="session")
def tiler_url(shared_storage, tmp_path_factory, django_db_setup, django_db_blocker):
    """Start ``uvicorn backend.tiler:app`` on a free loopback port; yields its base URL.

    The tiler checks each tile token's holder is still a member of the project, so it reads
    the test database (live-server tests commit their rows, the tiler sees them).
    """
    log_path = tmp_path_factory.mktemp("tiler") / "tiler.log"
    with django_db_blocker.unblock():
        database_url = test_database_url()
    env = {"GEOPROMPT_STORAGE_URL": str(shared_storage), "GEOPROMPT_DATABASE_URL": database_url}
    tiler = TilerProcess(env, log_path)
    try:
        url = tiler.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield url
    tiler.stop()


@pytest.fixture
def app(live_server, tiler_url, settings):
    """The live app wired to the tiler; returns its base URL."""
    settings.TILER_URL = tiler_url
    settings.SAM2_ALLOW_UNTRAINED = True
    return live_server.url


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh --with-browser)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class Session:
    """One logged-in browser context: its page and every request it made."""

    page: object
    context: object
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def foreign_requests(self, allowed_hosts: set[str]) -> list[str]:
        bad = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob"):
                continue
            if parts.netloc not in allowed_hosts:
                bad.append(url)
        return bad


@pytest.fixture
def browser_as(chromium, app, tiler_url):
    """``browser_as("annotator")`` → a Session logged in through the login page at 1366x768."""
    sessions: list[Session] = []

    def login(username: str) -> Session:
        context = chromium.new_context(viewport=VIEWPORT)
        page = context.new_page()
        # Waits end when the state is reached; the bound only turns a hang into a failure.
        page.set_default_timeout(STATE_WAIT_S * 1000)
        session = Session(page=page, context=context)
        page.on("request", lambda request: session.requests.append(request.url))
        # JavaScript errors only: tiles outside the image are 404s by design.
        page.on("pageerror", lambda e: session.console_errors.append(str(e)))
        page.goto(f"{app}/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(f"{username}-pw-123")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{app}/")
        sessions.append(session)
        return session

    yield login
    for session in sessions:
        session.context.close()


@pytest.fixture
def own_hosts(app, tiler_url) -> set[str]:
    """The only hosts pages may talk to: the live server and the tiler, both on loopback."""
    return {urlsplit(app).netloc, urlsplit(tiler_url).netloc}


@pytest.fixture
def screenshot(request):
    """``screenshot(page, "step")`` saves test-artifacts/<test>-<step>.png and returns the path."""
    ARTIFACTS.mkdir(exist_ok=True)

    def shoot(page, step: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{step}.png"
        page.screenshot(path=str(path))
        return path

    return shoot
