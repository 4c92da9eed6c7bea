"""HTML pages. Data for the interactive parts comes from the REST API."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from annotator.access import role_of
from annotator.models import Image, Project


def _my_project(request: HttpRequest, project_id: int) -> Project:
    """The project if the user is a member; 404 otherwise (non-members learn nothing)."""
    return get_object_or_404(Project.objects.for_user(request.user).distinct(), pk=project_id)


def _page(request: HttpRequest, template: str, project: Project, **context) -> HttpResponse:
    role = role_of(request.user, project)
    return render(request, f"annotator/{template}", {"project": project, "role": role, **context})


@login_required
def project_list(request):
    projects = Project.objects.for_user(request.user).distinct()
    return render(request, "annotator/project_list.html", {"projects": projects})


@login_required
def project_detail(request, project_id: int):
    from annotator.sam2.registry import MODELS

    project = _my_project(request, project_id)
    return _page(request, "project_detail.html", project, images=project.images.all(), sam2_models=list(MODELS))


@login_required
def image_map(request, image_id: int):
    """The annotate page of one image."""
    image = get_object_or_404(
        Image.objects.filter(project__in=Project.objects.for_user(request.user)).select_related("project"),
        pk=image_id,
    )
    return _page(request, "image_map.html", image.project, image=image, max_vertices=settings.MAX_ANNOTATION_VERTICES)


@login_required
def review(request, project_id: int):
    return _page(request, "review.html", _my_project(request, project_id))


@login_required
def dashboard(request, project_id: int):
    return _page(request, "dashboard.html", _my_project(request, project_id))


@login_required
def exports(request, project_id: int):
    from annotator.models import AnnotationState, ExportFormat

    return _page(
        request,
        "exports.html",
        _my_project(request, project_id),
        formats=ExportFormat.choices,
        states=AnnotationState.choices,
    )
