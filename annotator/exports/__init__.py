"""Exports of labelled datasets: create the row and its Job, build it, hand out the archive.

The work itself is in :mod:`annotator.exports.build`; formats each have a module.
"""

from __future__ import annotations

from typing import IO

from django.db import transaction

from annotator import jobs
from annotator.access import EXPORTER, require_role
from annotator.choices import JobKind
from annotator.errors import Conflict
from annotator.exports.chips import check_chip_limit
from annotator.exports.filters import annotation_queryset, parse_filters
from annotator.exports.options import check_regularise_class, parse_formats, parse_options
from annotator.models import Export, Image, Project
from annotator.models.export import CHIP_FORMATS
from annotator.storage import get_storage

# The least role that may start an export (why: see check_can_export).


def check_can_export(user, project: Project) -> None:
    """Refuse users below ``EXPORTER`` in ``project``: reviewers and owners start exports.

    Not viewers, and not annotators either:

    * an export is the heaviest job a member can queue (up to ``EXPORT_MAX_CHIPS`` chips
      read, rendered and zipped: minutes of a worker and gigabytes of disk). Annotators
      are the many in a project; leaving them out keeps the people who can fill the
      worker's queue to the few who run the project;
    * an export publishes the project's labels as a dataset, which is the reviewers'
      call: they decide what is approved, and an export holds approved annotations by
      default;
    * annotators and viewers lose nothing they need: every member still lists and
      downloads the exports that reviewers and owners made.

    Raises:
        PermissionDenied: the user is not a reviewer or an owner of the project (403,
            code ``forbidden``).
    """
    require_role(user, project, EXPORTER, "Only the project's reviewers and owners can start an export.")


def create_export(project: Project, user, formats, filters: dict | None = None, options: dict | None = None) -> Export:
    """Validate the request, create the Export row and queue its Job (sent after commit).

    Args:
        project: the project whose annotations are exported.
        user: the member asking: a reviewer or an owner (see ``EXPORTER``).
        formats: format names (see :class:`~annotator.models.ExportFormat`).
        filters: see :func:`~annotator.exports.filters.parse_filters`.
        options: see :func:`~annotator.exports.options.parse_options`.
    Raises:
        PermissionDenied: the user is not a reviewer or an owner of the project.
        InvalidInput: naming the bad field; for chip formats, also more chips than
            ``settings.EXPORT_MAX_CHIPS`` (counted from the images' sizes, before queueing).
    """
    check_can_export(user, project)
    parsed_formats = parse_formats(formats)
    parsed_filters = parse_filters(project, filters)
    parsed_options = parse_options(options)
    check_regularise_class(project, parsed_options)
    if set(parsed_formats) & set(CHIP_FORMATS):
        image_ids = annotation_queryset(project, parsed_filters).values("image_id")
        check_chip_limit(
            Image.objects.filter(pk__in=image_ids).only("width", "height"),
            parsed_options.chip_size,
            parsed_options.chip_overlap,
        )
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
