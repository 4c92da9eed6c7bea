"""HTML pages. Data for the interactive parts comes from the REST API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from annotator.models import Image, Project


@login_required
def project_list(request):
    projects = Project.objects.for_user(request.user).distinct()
    return render(request, "annotator/project_list.html", {"projects": projects})


@login_required
def project_detail(request, project_id: int):
    project = get_object_or_404(Project.objects.for_user(request.user).distinct(), pk=project_id)
    return render(request, "annotator/project_detail.html", {"project": project, "images": project.images.all()})


@login_required
def image_map(request, image_id: int):
    image = get_object_or_404(
        Image.objects.filter(project__in=Project.objects.for_user(request.user)).select_related("project"),
        pk=image_id,
    )
    return render(request, "annotator/image_map.html", {"image": image, "project": image.project})
