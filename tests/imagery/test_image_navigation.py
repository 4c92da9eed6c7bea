"""The annotate page's previous / next image, in the project page's order (newest first)."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.workflow import make_image


def images_made_at(project, *minutes_ago: int) -> list:
    """Images of ``project`` named "m<minutes>" created that many minutes ago, in the given order."""
    from annotator.models import Image

    now = timezone.now()
    made = []
    for minutes in minutes_ago:
        image = make_image(project, f"m{minutes}.tif")
        Image.objects.filter(pk=image.pk).update(created_at=now - timedelta(minutes=minutes))
        image.refresh_from_db()
        made.append(image)
    return made


def test_the_place_follows_the_project_pages_order_newest_first(cast):
    from annotator.imagery.navigation import place_of

    oldest, newest, middle = images_made_at(cast.project, 30, 10, 20)
    make_image(cast.other_project, "elsewhere.tif")  # another project's images do not count

    first, second, third = place_of(newest), place_of(middle), place_of(oldest)
    assert (first.position, first.count, first.previous, first.next) == (1, 3, None, middle)
    assert (second.position, second.count, second.previous, second.next) == (2, 3, newest, oldest)
    assert (third.position, third.count, third.previous, third.next) == (3, 3, middle, None)


def test_images_made_at_the_same_moment_are_ordered_by_id_like_the_list(cast, client_for):
    from annotator.imagery.navigation import place_of
    from annotator.models import Image

    a, b, c = (make_image(cast.project, f"{n}.tif") for n in "abc")
    Image.objects.filter(pk__in=[a.pk, b.pk, c.pk]).update(created_at=timezone.now())
    listed = client_for(cast.viewer).get(f"/api/v1/projects/{cast.project.pk}/images/").json()["results"]
    order = [image["id"] for image in listed]
    assert order == [c.pk, b.pk, a.pk]
    for index, pk in enumerate(order):
        place = place_of(Image.objects.get(pk=pk))
        assert place.position == index + 1
        assert (place.previous.pk if place.previous else None) == (order[index - 1] if index else None)
        assert (place.next.pk if place.next else None) == (order[index + 1] if index + 1 < len(order) else None)


def test_the_annotate_page_says_where_the_image_is_and_links_its_neighbours(cast, client_for):
    oldest, newest, middle = images_made_at(cast.project, 30, 10, 20)
    client = client_for(cast.annotator)

    def page_and_queries() -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            page = client.get(f"/images/{middle.pk}/map/").content.decode()
        return page, len(queries)

    page, few = page_and_queries()
    assert "image 2 of 3" in page
    assert f'href="/images/{newest.pk}/map/"' in page
    assert f'href="/images/{oldest.pk}/map/"' in page

    images_made_at(cast.project, *range(40, 70))  # older ones: the middle image keeps its place
    page, many = page_and_queries()
    assert "image 2 of 33" in page
    assert many == few  # no query per image
