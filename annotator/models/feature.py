from __future__ import annotations

from affine import Affine
from django.db import models

from annotator.choices import EncodePriority


class FeatureTile(models.Model):
    """The stored SAM2 features of one encoder window of an image.

    ``cache_key`` identifies everything the features depend on (model, checkpoint digest,
    band mapping, stretch, window plan); rows of an older key are stale and deleted.
    Offsets and sizes are in pixels of ``level`` (the image downsampled by 2**level);
    ``transform`` maps (col, row) of the window's 1024 x 1024 grid to the image CRS, as
    GDAL's six coefficients (c, a, b, f, d, e).
    """

    image = models.ForeignKey("annotator.Image", on_delete=models.CASCADE, related_name="feature_tiles")
    model_name = models.CharField(max_length=64)
    checkpoint_digest = models.CharField(max_length=80)
    cache_key = models.CharField(max_length=40, db_index=True)
    untrained = models.BooleanField(default=False)
    level = models.PositiveSmallIntegerField()
    col_off = models.PositiveIntegerField(help_text="window offset at its level, pixels")
    row_off = models.PositiveIntegerField(help_text="window offset at its level, pixels")
    width = models.PositiveIntegerField(help_text="valid pixels at its level (the rest is padding)")
    height = models.PositiveIntegerField(help_text="valid pixels at its level (the rest is padding)")
    transform = models.JSONField(help_text="GDAL order: c, a, b, f, d, e; window pixel → image CRS")
    storage_key = models.CharField(max_length=500)
    size_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image_id", "level", "row_off", "col_off"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "cache_key", "level", "row_off", "col_off"], name="featuretile_unique_window"
            )
        ]

    def __str__(self) -> str:
        return f"{self.image_id} L{self.level} r{self.row_off} c{self.col_off} ({self.model_name})"

    @property
    def affine(self) -> Affine:
        """The window transform as an :class:`affine.Affine`."""
        return Affine.from_gdal(*self.transform)


class EncodeRequest(models.Model):
    """A window of an image asked for ahead of the raster order (a click, a page's view), not stored yet.

    The encode job reads these rows between batches and encodes them first (clicks, oldest
    first; then views, newest first), and deletes each once its FeatureTile row exists.
    One row per window and cache key (the unique constraint): two clicks that race for a
    window make one row, so the window is queued once. ``requested_at`` is the first ask,
    ``seen_at`` the latest (a view's rows older than ``VIEW_TTL_S`` are dropped: the page
    that reported it is gone or looks elsewhere). Offsets are level pixels, as FeatureTile's.
    """

    image = models.ForeignKey("annotator.Image", on_delete=models.CASCADE, related_name="encode_requests")
    cache_key = models.CharField(max_length=40)
    level = models.PositiveSmallIntegerField()
    col_off = models.PositiveIntegerField(help_text="window offset at its level, pixels")
    row_off = models.PositiveIntegerField(help_text="window offset at its level, pixels")
    priority = models.PositiveSmallIntegerField(choices=EncodePriority.choices)
    requested_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["image_id", "priority", "requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "cache_key", "level", "row_off", "col_off"], name="encoderequest_unique_window"
            )
        ]

    def __str__(self) -> str:
        return f"{self.image_id} L{self.level} r{self.row_off} c{self.col_off} (priority {self.priority})"
