"""API of invitation links and of user accounts (staff).

* ``/projects/{id}/invitations/``: owners list, make (the answer holds the one-time link)
  and revoke invitations.
* ``/invitations/accept/``: whoever holds a link accepts it, signed in or with a new account.
* ``/users/``: staff list and create accounts, (de)activate them, and make set-password links.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import access
from annotator.api.base import ProjectScopedMixin
from annotator.api.team.serializers import (
    InvitationAcceptedSerializer,
    InvitationAcceptSerializer,
    InvitationSerializer,
    PasswordLinkSerializer,
    UserCreatedSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from annotator.choices import Role
from annotator.models import Invitation
from annotator.team import accounts, invitations

User = get_user_model()


class ProjectInvitationViewSet(
    ProjectScopedMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Invitation links of a project: owners only. Deleting a pending one revokes its link."""

    serializer_class = InvitationSerializer
    required_roles = {"list": Role.OWNER}

    def get_queryset(self):
        return Invitation.objects.filter(project=self.get_collection_project()).select_related(
            "project", "created_by", "accepted_by"
        )

    def create(self, request, *args, **kwargs):
        body = InvitationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        invitation, token = invitations.create_invitation(
            self.get_collection_project(), body.validated_data.get("role", Role.ANNOTATOR), request.user
        )
        context = {**self.get_serializer_context(), "link_path": invitations.link_path(token)}
        return Response(InvitationSerializer(invitation, context=context).data, status=status.HTTP_201_CREATED)


class InvitationAcceptView(APIView):
    """Accept an invitation link. Signed in: join as yourself. Not signed in: send a username
    and a password; the account is created (only if the link still works) and joins."""

    permission_classes = [AllowAny]

    @extend_schema(request=InvitationAcceptSerializer, responses={201: InvitationAcceptedSerializer})
    def post(self, request):
        body = InvitationAcceptSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if request.user.is_authenticated:
            membership = invitations.accept(data["token"], request.user)
        else:
            membership = invitations.accept_with_new_account(data["token"], data["username"], data["password"])
        answer = {
            "project": membership.project_id,
            "project_name": membership.project.name,
            "role": membership.role,
            "username": membership.user.username,
        }
        return Response(InvitationAcceptedSerializer(answer).data, status=status.HTTP_201_CREATED)


class StaffPermission(BasePermission):
    """Active staff users only (:func:`annotator.access.may_manage_users`)."""

    message = "Only staff members manage user accounts."

    def has_permission(self, request, view) -> bool:
        return access.may_manage_users(request.user)


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """User accounts (staff only): list, create, change email, (de)activate, staff flag, and
    one-time set-password links. Accounts are deactivated, never deleted (their work keeps its author)."""

    permission_classes = [StaffPermission]
    http_method_names = ["get", "post", "patch", "head", "options"]
    queryset = User.objects.order_by("username")

    def get_serializer_class(self):
        return UserUpdateSerializer if self.action == "partial_update" else UserSerializer

    @extend_schema(request=UserSerializer, responses={201: UserCreatedSerializer})
    def create(self, request, *args, **kwargs):
        body = UserSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        email, is_staff = data.get("email", ""), data.get("is_staff", False)
        user = accounts.create_account(request.user, data["username"], email, is_staff)
        link = accounts.password_link(request.user, user)
        user.password_link = {"url": request.build_absolute_uri(link.path), "expires_at": link.expires_at}
        return Response(UserCreatedSerializer(user).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        data = serializer.validated_data
        accounts.update_account(
            self.request.user,
            serializer.instance,
            email=data.get("email"),
            is_active=data.get("is_active"),
            is_staff=data.get("is_staff"),
        )

    @extend_schema(request=None, responses={201: PasswordLinkSerializer})
    @action(detail=True, methods=["post"], url_path="password-link")
    def password_link(self, request, pk=None):
        """A new one-time link to choose a password; every link made before dies once a password is set."""
        link = accounts.password_link(request.user, self.get_object())
        answer = {"url": request.build_absolute_uri(link.path), "expires_at": link.expires_at}
        return Response(PasswordLinkSerializer(answer).data, status=status.HTTP_201_CREATED)
