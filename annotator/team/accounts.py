"""User accounts, managed by staff in the app: create, change, (de)activate, set-password links.

A set-password link is Django's password-reset token (``PasswordResetTokenGenerator``): it
works until the password is set (the token hashes the current password and last login)
and at most ``GEOPROMPT_PASSWORD_LINK_MAX_AGE_DAYS``. New accounts have no usable password
until their owner follows such a link, so staff never learn anyone's password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from annotator import access


@dataclass(frozen=True)
class PasswordLink:
    """A one-time link to choose a password: its path (the host is the request's) and expiry."""

    path: str
    expires_at: datetime


def password_link(actor, user) -> PasswordLink:
    """A new set-password link for ``user``, made by staff user ``actor``."""
    access.check(access.account_refusal(actor, user, "password_link"))
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("password-set", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})
    return PasswordLink(path=path, expires_at=timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT))


def create_account(actor, username: str, email: str = "", is_staff: bool = False):
    """A new active account without a usable password (its owner sets one through a link)."""
    access.check(access.account_refusal(actor, None, "create"))
    user = get_user_model().objects.create_user(username=username, email=email, password=None)
    if is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


def update_account(
    actor, user, *, email: str | None = None, is_active: bool | None = None, is_staff: bool | None = None
):
    """Change an account's email, active flag or staff flag, each checked by :mod:`annotator.access`."""
    changes = []
    if email is not None and email != user.email:
        changes.append(("edit", "email", email))
    if is_active is not None and is_active != user.is_active:
        changes.append(("activate" if is_active else "deactivate", "is_active", is_active))
    if is_staff is not None and is_staff != user.is_staff:
        changes.append(("make_staff" if is_staff else "remove_staff", "is_staff", is_staff))
    if not changes:
        access.check(access.account_refusal(actor, user, "edit"))
    for change, _field, _value in changes:
        access.check(access.account_refusal(actor, user, change))
    for _change, field, value in changes:
        setattr(user, field, value)
    if changes:
        user.save(update_fields=[field for _c, field, _v in changes])
    return user
