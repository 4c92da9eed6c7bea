"""Per-project roles for API views.

Objects of a project the caller is not a member of are never found (404): querysets are
filtered by membership first. Inside a project, each action needs a minimum role (403).
The rules themselves are :mod:`annotator.access`'s; this module asks it, and looks up the
caller's role once per request (serializers reuse it, so lists cost no query per row).
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from annotator import access
from annotator.choices import Role
from annotator.models import Project


def caller_role(request: Request, project: Project | int) -> Role | None:
    """The caller's role in the project, looked up once per request and project."""
    project_id = project.pk if isinstance(project, Project) else project
    roles: dict[int, Role | None] | None = getattr(request, "_project_roles", None)
    if roles is None:
        roles = request._project_roles = {}
    if project_id not in roles:
        roles[project_id] = access.role_of(request.user, project_id)
    return roles[project_id]


def caller_access(request: Request, project: Project) -> access.Access:
    """What the caller may do in the project (annotation actions), from the request's role."""
    return access.Access.with_role(request.user, project, caller_role(request, project))


class ProjectRolePermission(BasePermission):
    """Checks ``view.required_roles[action]`` (default: viewer for reads, owner otherwise).

    The view provides ``get_collection_project()`` for collection routes; object routes
    use the object's ``project`` (or the object itself when it is a Project).
    """

    def _required(self, view) -> str:
        roles = getattr(view, "required_roles", {})
        action = getattr(view, "action", None)
        if action in roles:
            return roles[action]
        return Role.VIEWER if action in ("list", "retrieve") else Role.OWNER

    def has_permission(self, request, view) -> bool:
        if not request.user.is_authenticated:
            return False
        get_project = getattr(view, "get_collection_project", None)
        if get_project is not None and getattr(view, "detail", False) is False:
            project = get_project()  # raises 404 for non-members
            if project is not None:
                return access.at_least(caller_role(request, project), self._required(view))
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        project = obj if isinstance(obj, Project) else obj.project
        return access.at_least(caller_role(request, project), self._required(view))
