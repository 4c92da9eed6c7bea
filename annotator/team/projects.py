"""Project lifecycle: creation (the creator becomes owner) and deletion with everything stored."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from annotator import access
from annotator.choices import Role
from annotator.models import Membership, Project
from annotator.storage import get_storage


@dataclass(frozen=True)
class ProjectContents:
    """What deleting a project takes with it: its images and its (live) annotations."""

    images: int
    annotations: int


def create_project(user, **fields) -> Project:
    """Create a project owned by ``user`` (PermissionDenied unless they may create projects).

    Args:
        user: the creator; they become the project's first owner.
        fields: model fields of the project (name, description, sam2_model...).
    """
    access.check(access.project_creation_refusal(user))
    with transaction.atomic():
        project = Project.objects.create(created_by=user, **fields)
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
    return project


def contents(project: Project) -> ProjectContents:
    """How many images and live annotations the project holds (two queries, or none after ``with_counts``)."""
    images = getattr(project, "image_count", None)
    annotations = getattr(project, "annotation_count", None)
    if images is None:
        images = project.images.count()
    if annotations is None:
        annotations = project.annotations.live().count()
    return ProjectContents(images=images, annotations=annotations)


def delete_project(project: Project) -> None:
    """Delete the project, its rows (images, annotations, jobs, exports, invitations...) and
    every stored file under its prefix (uploads, COGs, SAM2 features, export archives).

    The files go once the rows are gone for good (after the commit); a job still running
    finds its row missing and stops.
    """
    prefix = project.storage_prefix
    with transaction.atomic():
        project.delete()
        transaction.on_commit(lambda: get_storage().delete_prefix(prefix))
