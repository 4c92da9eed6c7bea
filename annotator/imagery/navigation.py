"""Where an image sits among its project's images, for the annotate page's previous / next.

The order is the project page's (the image list API's): newest first, by ``created_at`` then id.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from annotator.models import Image


@dataclass(frozen=True)
class ImagePlace:
    """``position`` counts from 1; ``previous`` comes before the image in the project page's
    order (newer), ``next`` after it (older); None at either end."""

    position: int
    count: int
    previous: Image | None
    next: Image | None


def place_of(image: Image) -> ImagePlace:
    """The image's place in its project's list; four small indexed queries, whatever the count."""
    siblings = Image.objects.filter(project_id=image.project_id).only("id", "name", "created_at")
    # Before it in the list: newer, or as new with a larger id (the list's tie-break).
    before = Q(created_at__gt=image.created_at) | Q(created_at=image.created_at, id__gt=image.pk)
    after = Q(created_at__lt=image.created_at) | Q(created_at=image.created_at, id__lt=image.pk)
    return ImagePlace(
        position=siblings.filter(before).count() + 1,
        count=siblings.count(),
        previous=siblings.filter(before).order_by("created_at", "id").first(),
        next=siblings.filter(after).order_by("-created_at", "-id").first(),
    )
