"""Per-project roles for API views.

Objects of a project the caller is not a member of are never found (404): querysets are
filtered by membership first. Inside a project, each action needs a minimum role (403).
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from annotator.choices import ROLE_RANK, Role
from annotator.models import Membership, Project


def membership_for(user, project: Project | int) -> Membership | None:
    if not user.is_authenticated:
        return None
    project_id = project.pk if isinstance(project, Project) else project
    return Membership.objects.filter(project_id=project_id, user=user).first()


def has_role(user, project: Project | int, role: str) -> bool:
    membership = membership_for(user, project)
    return membership is not None and ROLE_RANK[Role(membership.role)] >= ROLE_RANK[Role(role)]


class ProjectRolePermission(BasePermission):
    """Checks ``view.required_roles[action]`` (default: viewer for reads, owner otherwise).

    The view provides ``get_project()`` for collection routes; object routes use the
    object's ``project`` (or the object itself when it is a Project).
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
                return has_role(request.user, project, self._required(view))
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        project = obj if isinstance(obj, Project) else obj.project
        return has_role(request.user, project, self._required(view))
