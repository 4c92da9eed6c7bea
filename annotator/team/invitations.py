"""Invitation links: an owner makes a one-time link for a role; its holder joins the project.

The link carries a random token (256 bits); only its SHA-256 is stored, so the database
alone cannot be turned back into working links. A link works once and until its expiry
(``GEOPROMPT_INVITATION_MAX_AGE_DAYS``). No mail server is involved: the owner copies the
link and sends it however the team talks.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from annotator.choices import Role
from annotator.errors import Conflict, InvalidInput, InvitationExpired, InvitationUsed
from annotator.models import Invitation, Membership, Project

TOKEN_BYTES = 32
NOT_VALID = (
    "This invitation link is not valid: check that it was copied whole, or ask the project's owner for a new one."
)


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256, hex (a token is random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def link_path(token: str) -> str:
    """The path of the invitation page for ``token`` (the host is the request's)."""
    return reverse("invitation", args=[token])


def create_invitation(project: Project, role: Role | str, user) -> tuple[Invitation, str]:
    """Make an invitation to ``project`` as ``role``; returns the row and its token (shown once).

    Who may invite is the API's permission check (owners); this only makes the row.
    """
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invitation = Invitation.objects.create(
        project=project,
        role=Role(role),
        token_hash=hash_token(token),
        created_by=user,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
    )
    return invitation, token


def find(token: str, *, lock: bool = False) -> Invitation:
    """The invitation of ``token``, used or not; InvalidInput (field ``token``) when there is none."""
    rows = Invitation.objects.select_related("project", "created_by")
    if lock:
        rows = rows.select_for_update(of=("self",))
    invitation = rows.filter(token_hash=hash_token(token or "")).first()
    if invitation is None:
        raise InvalidInput(NOT_VALID, field="token")
    return invitation


def check_usable(invitation: Invitation) -> None:
    """InvitationUsed or InvitationExpired (both 409) unless the invitation can still be accepted."""
    if invitation.accepted_at is not None:
        raise InvitationUsed("This invitation link has already been used; each link works once.")
    if invitation.expires_at <= timezone.now():
        expired = timezone.localtime(invitation.expires_at).strftime("%Y-%m-%d %H:%M %Z")
        raise InvitationExpired(
            f"This invitation link expired on {expired}; ask the project's owner for a new one.",
            extra={"expires_at": invitation.expires_at.isoformat()},
        )


def _join(invitation: Invitation, user) -> Membership:
    existing = Membership.objects.filter(project=invitation.project, user=user).first()
    if existing is not None:
        raise Conflict(
            f"You are already a member of {invitation.project.name} (as {existing.role}); "
            "the invitation is left for someone else.",
            extra={"project": invitation.project_id, "role": existing.role},
        )
    membership = Membership.objects.create(project=invitation.project, user=user, role=invitation.role)
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    return membership


def accept(token: str, user) -> Membership:
    """``user`` (signed in) joins the project with the invited role; the link is then used up."""
    with transaction.atomic():
        invitation = find(token, lock=True)
        check_usable(invitation)
        return _join(invitation, user)


def accept_with_new_account(token: str, username: str, password: str):
    """Create the account ``username`` (password already validated) and accept with it.

    The account is made only if the invitation can be accepted: a dead link creates nobody.
    Returns the new membership; its ``user`` is the new account.
    """
    with transaction.atomic():
        invitation = find(token, lock=True)
        check_usable(invitation)
        try:
            with transaction.atomic():
                user = get_user_model().objects.create_user(username=username, password=password)
        except IntegrityError:
            raise Conflict(f"The username {username!r} is taken; choose another.", field="username") from None
        return _join(invitation, user)
