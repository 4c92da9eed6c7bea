"""The app asks nothing of any host but its own: every request every page makes goes to
the live server or the tiler, both on loopback (no CDN, fonts, analytics or tiles elsewhere)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


def test_every_page_requests_only_the_app_and_its_tiler(cast, ingested_image, browser_as, app, own_hosts, screenshot):
    image = ingested_image("landsat_rgb_utm18.tif")
    project = cast.project.pk
    for username, paths in [
        (
            "owner",
            [
                "/",
                f"/projects/{project}/",
                f"/images/{image.pk}/map/",
                f"/projects/{project}/dashboard/",
                f"/projects/{project}/exports/",
            ],
        ),
        ("reviewer", [f"/projects/{project}/review/", f"/images/{image.pk}/map/"]),
    ]:
        session = browser_as(username)
        for path in paths:
            session.page.goto(f"{app}{path}")
            session.page.wait_for_load_state("networkidle")
        if username == "owner":
            screenshot(session.page, "dashboard")
        hosts = {urlsplit(url).netloc for url in session.requests if not url.startswith("data:")}
        assert session.foreign_requests(own_hosts) == []
        assert hosts == own_hosts, hosts  # the tiles did come from the tiler
        assert all(
            urlsplit(url).hostname == "127.0.0.1" or urlsplit(url).hostname == "localhost"
            for url in session.requests
            if not url.startswith("data:")
        )
        assert session.console_errors == []
