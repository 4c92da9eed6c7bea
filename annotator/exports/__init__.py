"""Exports of labelled datasets: create the row and its Job, build it, hand out the archive.

The work itself is in :mod:`annotator.exports.build`; formats each have a module.
"""

from __future__ import annotations

from typing import IO

from django.db import transaction

from annotator import jobs
from annotator.choices import JobKind
from annotator.errors import Conflict
from annotator.exports.filters import parse_filters
from annotator.exports.options import parse_formats, parse_options
from annotator.models import Export, Project
from annotator.storage import get_storage


def create_export(project: Project, user, formats, filters: dict | None = None, options: dict | None = None) -> Export:
    """Validate the request, create the Export row and queue its Job (sent after commit).

    Args:
        project: the project whose annotations are exported.
        user: the member asking (any role may export).
        formats: format names (see :class:`~annotator.models.ExportFormat`).
        filters: see :func:`~annotator.exports.filters.parse_filters`.
        options: see :func:`~annotator.exports.options.parse_options`.
    Raises:
        InvalidInput: naming the bad field.
    """
    parsed_formats = parse_formats(formats)
    parsed_filters = parse_filters(project, filters)
    parsed_options = parse_options(options)
    with transaction.atomic():
        export = Export.objects.create(
            project=project,
            created_by=user if user is not None and user.is_authenticated else None,
            formats=parsed_formats,
            filters=parsed_filters.as_json(),
            options=parsed_options.as_json(),
        )
        export.job = jobs.enqueue(JobKind.EXPORT, project, export, user)
        export.save(update_fields=["job"])
    return export


def open_archive(export: Export) -> IO[bytes]:
    """The finished archive as a readable binary stream.

    Raises:
        Conflict: the export has not finished (or failed).
    """
    if not export.is_ready:
        status = export.job.status if export.job else "unknown"
        raise Conflict("The export is not ready to download.", extra={"status": status})
    return get_storage().open_read(export.archive_key)


def delete_export(export: Export) -> None:
    """Delete the archive and the row."""
    get_storage().delete_prefix(export.storage_prefix)
    export.delete()
