"""Serializers of invitations and user accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator.choices import Role
from annotator.models import Invitation

User = get_user_model()


class InvitationSerializer(serializers.ModelSerializer):
    """An invitation as its project's owners see it. ``url``, the one-time link, is in the
    answer to creating the invitation only: only the token's hash is kept, so it cannot be
    shown again."""

    status = serializers.ChoiceField(choices=["pending", "accepted", "expired"], read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    accepted_by = serializers.CharField(source="accepted_by.username", read_only=True, default=None)
    url = serializers.SerializerMethodField(help_text="the one-time link to send; null except when just created")

    class Meta:
        model = Invitation
        fields = ["id", "role", "status", "created_by", "created_at", "expires_at", "accepted_by", "accepted_at", "url"]
        read_only_fields = ["id", "status", "created_by", "created_at", "expires_at", "accepted_by", "accepted_at"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_url(self, invitation: Invitation) -> str | None:
        link_path = self.context.get("link_path")
        return self.context["request"].build_absolute_uri(link_path) if link_path else None


class InvitationAcceptSerializer(serializers.Serializer):
    """Accept an invitation: signed in, with the token alone; otherwise with a new account's
    username and password (the account is created and joins the project)."""

    token = serializers.CharField(max_length=200, help_text="the token at the end of the invitation link")
    username = serializers.CharField(
        max_length=150, required=False, validators=[UnicodeUsernameValidator()], help_text="for a new account"
    )
    password = serializers.CharField(
        max_length=128, required=False, write_only=True, style={"input_type": "password"}, help_text="for a new account"
    )

    def validate_username(self, username: str) -> str:
        if User.objects.filter(username__iexact=username).exists():
            raise serializers.ValidationError(f"The username {username!r} is taken; choose another.")
        return username

    def validate(self, data: dict) -> dict:
        user = self.context["request"].user
        if user.is_authenticated:
            return data
        if not data.get("username") or not data.get("password"):
            raise serializers.ValidationError(
                {"username": "Send a username and a password for a new account, or sign in to accept as yourself."}
            )
        try:
            password_validation.validate_password(data["password"], User(username=data["username"]))
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return data


class InvitationAcceptedSerializer(serializers.Serializer):
    project = serializers.IntegerField(help_text="id of the project joined")
    project_name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
    username = serializers.CharField(help_text="the account that joined")


class PasswordLinkSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="one-time link to choose a password; copy it to the person")
    expires_at = serializers.DateTimeField()


class UserSerializer(serializers.ModelSerializer):
    """A user account as staff see it."""

    has_password = serializers.SerializerMethodField(help_text="false until the person has set a password")

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "is_active",
            "is_staff",
            "is_superuser",
            "has_password",
            "date_joined",
            "last_login",
        ]
        read_only_fields = ["id", "is_superuser", "has_password", "date_joined", "last_login"]

    def get_has_password(self, user) -> bool:
        return user.has_usable_password()

    def validate_username(self, username: str) -> str:
        clash = User.objects.filter(username__iexact=username)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError(f"The username {username!r} is taken.")
        return username


class UserUpdateSerializer(UserSerializer):
    class Meta(UserSerializer.Meta):
        read_only_fields = [*UserSerializer.Meta.read_only_fields, "username"]


class UserCreatedSerializer(UserSerializer):
    """A new account and the one-time link with which its owner chooses a password."""

    password_link = PasswordLinkSerializer(read_only=True)

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "password_link"]
