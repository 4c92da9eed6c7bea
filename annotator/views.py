"""HTML pages. Data for the interactive parts comes from the REST API."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy

from annotator import access
from annotator.access import role_of
from annotator.errors import HTTP_STATUS, GeopromptError
from annotator.imagery import navigation
from annotator.models import Image, Project
from annotator.team import invitations


def _my_project(request: HttpRequest, project_id: int) -> Project:
    """The project if the user is a member; 404 otherwise (non-members learn nothing)."""
    return get_object_or_404(Project.objects.for_user(request.user).distinct(), pk=project_id)


def _page(request: HttpRequest, template: str, project: Project, **context) -> HttpResponse:
    role = role_of(request.user, project)
    context = {"project": project, "role": role, "may_manage_areas": access.may_manage_areas(role), **context}
    return render(request, f"annotator/{template}", context)


@login_required
def project_list(request):
    projects = Project.objects.for_user(request.user).distinct()
    may_create = access.may_create_project(request.user)
    return render(request, "annotator/project_list.html", {"projects": projects, "may_create_project": may_create})


@login_required
def project_detail(request, project_id: int):
    from annotator.sam2.registry import MODELS

    project = _my_project(request, project_id)
    return _page(
        request,
        "project_detail.html",
        project,
        images=project.images.all(),
        sam2_models=list(MODELS),
        invitation_days=settings.INVITATION_MAX_AGE_DAYS,
        upload_chunk_bytes=settings.RESUMABLE_CHUNK_BYTES,
        import_enabled=bool(settings.IMPORT_ALLOWLIST),
    )


@login_required
def image_map(request, image_id: int):
    """The annotate page of one image."""
    image = get_object_or_404(
        Image.objects.filter(project__in=Project.objects.for_user(request.user)).select_related("project"),
        pk=image_id,
    )
    return _page(
        request,
        "image_map.html",
        image.project,
        image=image,
        max_vertices=settings.MAX_ANNOTATION_VERTICES,
        place=navigation.place_of(image),
    )


@login_required
def my_tasks(request, project_id: int | None = None):
    """The areas assigned to the user and their rejected annotations (data from ``/api/v1/tasks/``),
    in every project or, under ``/projects/<id>/tasks/``, in one."""
    if project_id is None:
        return render(request, "annotator/tasks.html", {})
    return _page(request, "tasks.html", _my_project(request, project_id))


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


# --- team set-up: users (staff), invitation links, set-password links ------------------


@login_required
def users(request):
    """User accounts, for staff: the page's data comes from ``/api/v1/users/``."""
    if not access.may_manage_users(request.user):
        raise PermissionDenied("Only staff members manage user accounts.")
    context = {"link_days": settings.PASSWORD_LINK_MAX_AGE_DAYS, "project_creators": settings.PROJECT_CREATORS}
    return render(request, "annotator/users.html", context)


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation link opens: join the project as yourself when signed in, or
    choose a username and password (the account is made only if the link still works)."""

    def refused(error: GeopromptError, invite=None) -> HttpResponse:
        context = {"refusal": error.message, "invitation": invite}
        return render(request, "annotator/invitation.html", context, status=HTTP_STATUS[error.code])

    try:
        invite = invitations.find(token)
        invitations.check_usable(invite)
    except GeopromptError as error:
        return refused(error)
    project = invite.project
    member_role = role_of(request.user, project)
    form = None
    if request.user.is_authenticated:
        if request.method == "POST" and member_role is None:
            try:
                invitations.accept(token, request.user)
            except GeopromptError as error:
                return refused(error, invite)
            messages.success(request, f"You joined {project.name} as {invite.role}.")
            return redirect("project-detail", project_id=project.pk)
    else:
        form = UserCreationForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            username, password = form.cleaned_data["username"], form.cleaned_data["password1"]
            try:
                membership = invitations.accept_with_new_account(token, username, password)
            except GeopromptError as error:
                return refused(error, invite)
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {username}: you joined {project.name} as {invite.role}.")
            return redirect("project-detail", project_id=project.pk)
    context = {"invitation": invite, "invited_project": project, "member_role": member_role, "form": form}
    return render(request, "annotator/invitation.html", {**context, "role_help": access.ROLE_SUMMARY[invite.role]})


class PasswordSetView(auth_views.PasswordResetConfirmView):
    """The page a set-password link opens (Django's password-reset confirmation): the person
    chooses a password and is logged in. Links of deactivated accounts do not work."""

    template_name = "registration/password_set.html"
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("project-list")

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, f"Your password is set, {form.user.username}; you are logged in.")
        return response
