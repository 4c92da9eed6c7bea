"""One exception hierarchy for the domain, mapped to HTTP status codes in one place."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class GeopromptError(Exception):
    """Base of every error the services raise on purpose. ``message`` is shown to users."""

    http_status = status.HTTP_400_BAD_REQUEST
    code = "error"

    def __init__(self, message: str, *, field: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "detail": self.message}
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body


class InvalidInput(GeopromptError):
    code = "invalid"


class InvalidRaster(InvalidInput):
    """An uploaded file that cannot become a Geoprompt image (not a raster, no georeference...)."""

    code = "invalid_raster"


class UploadTooLarge(GeopromptError):
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "too_large"


class NotFound(GeopromptError):
    http_status = status.HTTP_404_NOT_FOUND
    code = "not_found"


class PermissionDenied(GeopromptError):
    http_status = status.HTTP_403_FORBIDDEN
    code = "forbidden"


class Conflict(GeopromptError):
    http_status = status.HTTP_409_CONFLICT
    code = "conflict"


class StaleVersion(Conflict):
    """An edit names a version of the annotation that is no longer the current one."""

    code = "stale_version"


class LockedForReview(Conflict):
    """An author changes their annotation while it is submitted or approved."""

    code = "locked_for_review"


class InvalidTransition(Conflict):
    """A review step that does not start from the annotation's state (approving a draft...)."""

    code = "invalid_transition"


class StorageError(GeopromptError):
    http_status = status.HTTP_500_INTERNAL_SERVER_ERROR
    code = "storage"


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: domain errors become their status; the rest is DRF's default."""
    if isinstance(exc, GeopromptError):
        return Response(exc.as_dict(), status=exc.http_status)
    return exception_handler(exc, context)
