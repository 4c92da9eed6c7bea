"""Who may do what in a project: the one module that decides.

Roles are ranked viewer < annotator < reviewer < owner, and each role may do everything
the roles before it may. On an annotation, the actions a user may take *now* depend on
their role, on whether they wrote it, and on its review state:

* ``edit`` and ``delete``: reviewers and owners, in any state; the author (an annotator)
  while it is a draft or rejected. An author's submitted or approved annotation is locked
  for review.
* ``submit`` (draft → submitted): the author, reviewers and owners.
* ``approve`` (submitted → approved): reviewers and owners, except on their own work
  unless the project allows self-approval.
* ``reject`` (submitted → rejected): reviewers and owners.
* A draft that SAM2 drafted on its own (source ``auto``, a drafting run) is reviewed as it
  stands: reviewers and owners approve or reject it straight from ``draft`` (nobody wrote
  it, so nobody submits it), and approving it is not self-approval for the member who
  started the run (the run's drafts are in their name: they review the model's work).
* ``comment`` (open a thread on it): annotators, reviewers and owners.

On a comment thread (:meth:`Access.thread_actions`):

* ``reply``: annotators, reviewers and owners, open or resolved.
* ``resolve`` (an open thread) and ``reopen`` (a resolved one): the thread's creator
  (an annotator or above), reviewers and owners. The author of a rejected annotation
  answers the reviewer's thread; the reviewer decides that it is settled.

Outside projects, for the whole server:

* creating a project: staff users, or every signed-in user when
  ``GEOPROMPT_PROJECT_CREATORS=any``; the creator becomes its owner.
* managing user accounts (create, deactivate, set-password links): active staff users;
  only a superuser changes a superuser's account, and nobody deactivates or un-staffs
  themselves (the last admin would lock everyone out).
* inviting people to a project (one-time links for a role): the project's owners.

Assigned areas (parts of an image given to a member to annotate; they may overlap):

* drawing, naming, (re)assigning and deleting them: reviewers and owners
  (:data:`AREA_MANAGER`); annotators see only their own, other members all of them.
* being given one: members who may annotate (:data:`ASSIGNABLE`), never viewers.

Annotator agreement (:mod:`annotator.quality.agreement`): every member reads the figures;
reviewers and owners make consensus drafts of an area (:data:`CONSENSUS_MAKER`).

Model evaluation (:mod:`annotator.quality.evaluation`): every member reads it; owners
start one (:data:`EVALUATION_STARTER`).

Services raise the refusal this module gives; the API sends
:meth:`Access.allowed_actions` with every annotation so that the page never guesses.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from annotator.choices import ROLE_RANK, Role
from annotator.errors import (
    Conflict,
    GeopromptError,
    InvalidInput,
    InvalidTransition,
    LockedForReview,
    PermissionDenied,
)
from annotator.models import Annotation, AnnotationSource, AnnotationState, CommentThread, Membership, Project

ANNOTATION_ACTIONS = ("approve", "comment", "delete", "edit", "reject", "submit")
THREAD_ACTIONS = ("reopen", "reply", "resolve")

# transition -> (states it starts from, state it leads to)
TRANSITIONS: dict[str, tuple[tuple[AnnotationState, ...], AnnotationState]] = {
    "submit": ((AnnotationState.DRAFT,), AnnotationState.SUBMITTED),
    "approve": ((AnnotationState.SUBMITTED,), AnnotationState.APPROVED),
    "reject": ((AnnotationState.SUBMITTED,), AnnotationState.REJECTED),
}
# Sources whose drafts reviewers approve or reject without a submit: SAM2's own drafts.
REVIEWED_AS_DRAFTED = (AnnotationSource.AUTO,)
# The least role that may comment (open or answer a thread, on an annotation or a point).
COMMENTER = Role.ANNOTATOR
# The least role that may start an export (every member lists and downloads them). An
# export is the heaviest job a member can queue, and it publishes the approved labels as a
# dataset, which is the reviewers' call: see annotator.exports.check_can_export.
EXPORTER = Role.REVIEWER
# States in which an annotator's own annotation is out of their hands.
LOCKED_STATES = (AnnotationState.SUBMITTED, AnnotationState.APPROVED)


# --- roles -----------------------------------------------------------------------------


def role_of(user, project: Project | int) -> Role | None:
    """The user's role in the project, or None for non-members and anonymous users (one query)."""
    if user is None or not user.is_authenticated:
        return None
    project_id = project.pk if isinstance(project, Project) else project
    role = Membership.objects.filter(project_id=project_id, user=user).values_list("role", flat=True).first()
    return Role(role) if role else None


def roles_of(user) -> dict[int, Role]:
    """The user's role in each project they are a member of, by project id (one query)."""
    if user is None or not user.is_authenticated:
        return {}
    return {pk: Role(role) for pk, role in Membership.objects.filter(user=user).values_list("project_id", "role")}


def at_least(role: Role | str | None, minimum: Role | str) -> bool:
    """Whether ``role`` ranks at or above ``minimum`` (None, a non-member, ranks below all)."""
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


def has_role(user, project: Project | int, minimum: Role | str) -> bool:
    """Whether the user is a member of the project with at least the ``minimum`` role."""
    return at_least(role_of(user, project), minimum)


def require_role(user, project: Project | int, minimum: Role | str, message: str) -> Role:
    """The user's role in the project; PermissionDenied(``message``) below ``minimum``."""
    role = role_of(user, project)
    if not at_least(role, minimum):
        raise PermissionDenied(message)
    return role


def may_resolve(role: Role | str | None, user_id: int | None, thread: CommentThread) -> bool:
    """Threads are resolved or reopened by their creator (an annotator or above), reviewers and owners."""
    return at_least(role, Role.REVIEWER) or (at_least(role, COMMENTER) and thread.created_by_id == user_id)


# --- the server: projects and accounts ---------------------------------------------------

# What each role may do, in a sentence for people choosing or accepting one.
ROLE_SUMMARY: dict[Role, str] = {
    Role.OWNER: "Owners run the project: images, label classes, members, invitations and exports, and they "
    "annotate and review.",
    Role.REVIEWER: "Reviewers annotate, and approve or reject everyone's annotations.",
    Role.ANNOTATOR: "Annotators draw and label their own annotations and submit them for review.",
    Role.VIEWER: "Viewers see the project's images, annotations and dashboard, without changing them.",
}

# What a staff user may do to an account (see account_refusal).
ACCOUNT_CHANGES = ("create", "edit", "activate", "deactivate", "make_staff", "remove_staff", "password_link")


def project_creation_refusal(user) -> PermissionDenied | None:
    """Why the user may not create a project (``GEOPROMPT_PROJECT_CREATORS``), or None."""
    if user is None or not user.is_authenticated:
        return PermissionDenied("Log in to create a project.")
    if settings.PROJECT_CREATORS == "any" or user.is_staff:
        return None
    return PermissionDenied(
        "Only staff members can create projects on this server; "
        "ask one to create the project and send you an invitation link."
    )


def may_create_project(user) -> bool:
    return project_creation_refusal(user) is None


def may_manage_users(user) -> bool:
    """Whether the user may open the user list and manage accounts: active staff users."""
    return user is not None and user.is_authenticated and user.is_active and user.is_staff


def account_refusal(actor, target, change: str) -> PermissionDenied | Conflict | None:
    """Why ``actor`` may not make ``change`` (one of :data:`ACCOUNT_CHANGES`) to ``target``'s account.

    Returns None when they may. ``target`` is None for creating an account.
    """
    if change not in ACCOUNT_CHANGES:
        raise ValueError(f"Unknown account change {change!r}; one of {', '.join(ACCOUNT_CHANGES)}.")
    if not may_manage_users(actor):
        return PermissionDenied("Only staff members manage user accounts.")
    if target is None:
        return None
    if target.is_superuser and not actor.is_superuser:
        return PermissionDenied(f"Only a superuser can change {target.username}'s account (a superuser).")
    if target.pk == actor.pk and change in ("deactivate", "remove_staff"):
        what = "deactivate your own account" if change == "deactivate" else "remove your own staff status"
        return Conflict(f"You cannot {what}; ask another staff member.")
    if change == "password_link" and not target.is_active:
        return Conflict(f"{target.username} is deactivated; reactivate the account before making a password link.")
    return None


def check(refusal: GeopromptError | None) -> None:
    """Raise the refusal, if there is one."""
    if refusal is not None:
        raise refusal


# --- assigned areas ----------------------------------------------------------------------

# The least role that draws, names, (re)assigns and deletes assigned areas: handing out work
# is the reviewers' call, as they are the ones who check it.
AREA_MANAGER = Role.REVIEWER
# The least role a member needs to be given an area: one who may annotate it.
ASSIGNABLE = Role.ANNOTATOR
AREA_ACTIONS = ("delete", "edit")


def area_refusal(role: Role | str | None) -> PermissionDenied | None:
    """Why a member with ``role`` may not create, change or delete assigned areas, or None."""
    if at_least(role, AREA_MANAGER):
        return None
    return PermissionDenied("Only reviewers and owners draw, assign and delete areas.")


def may_manage_areas(role: Role | str | None) -> bool:
    return area_refusal(role) is None


def sees_only_own_areas(role: Role | str | None) -> bool:
    """Whether a member with ``role`` sees only the areas assigned to them (annotators)."""
    return role is not None and Role(role) == Role.ANNOTATOR


def area_actions(role: Role | str | None) -> list[str]:
    """What a member with ``role`` may do with an existing area, sorted (no queries)."""
    return list(AREA_ACTIONS) if may_manage_areas(role) else []


def assignee_refusal(username: str, role: Role | str | None) -> InvalidInput | None:
    """Why the member ``username`` (whose project role is ``role``) cannot be given an area, or None."""
    if role is None:
        return InvalidInput(f"{username} is not a member of this project.", field="assignee")
    if not at_least(role, ASSIGNABLE):
        return InvalidInput(
            f"{username} is a {role} and cannot annotate; give the area to an annotator, a reviewer or an owner.",
            field="assignee",
        )
    return None


# --- annotator agreement and consensus drafts -----------------------------------------

# The least role that reads agreement figures: every member, as the dashboard's per-annotator
# figures are theirs to see too.
AGREEMENT_READER = Role.VIEWER
# The least role that fuses annotators' polygons into consensus drafts: those drafts enter the
# review queue in the runner's name, which is the reviewers' work.
CONSENSUS_MAKER = Role.REVIEWER


def consensus_refusal(role: Role | str | None) -> PermissionDenied | None:
    """Why a member with ``role`` may not make consensus drafts, or None."""
    if at_least(role, CONSENSUS_MAKER):
        return None
    return PermissionDenied("Only reviewers and owners make consensus drafts.")


def agreement_actions(role: Role | str | None) -> list[str]:
    """What a member with ``role`` may do on the agreement figures (no queries)."""
    return ["make_consensus"] if consensus_refusal(role) is None else []


# --- drafts (segment everything, find similar) -------------------------------------------
# Reviewers and owners start runs: their drafts land in the review queue they work.
DRAFTS_READER = Role.VIEWER
DRAFTS_STARTER = Role.REVIEWER


def draft_run_refusal(role: Role | str | None) -> PermissionDenied | None:
    """Why a member with ``role`` may not start a segment-everything or find-similar run, or None."""
    if at_least(role, DRAFTS_STARTER):
        return None
    return PermissionDenied("Only reviewers and owners start segment-everything and find-similar runs.")


# --- model evaluation -------------------------------------------------------------------

# Every member reads the evaluations (the dashboard shows them). Starting one is the owners':
# it holds the encode worker (SAM2's decoder, up to 20 clicks per approved polygon) for
# minutes, time taken from encoding the project's new images.
EVALUATION_READER = Role.VIEWER
EVALUATION_STARTER = Role.OWNER


def evaluation_refusal(role: Role | str | None) -> PermissionDenied | None:
    """Why a member with ``role`` may not start a model evaluation, or None."""
    if at_least(role, EVALUATION_STARTER):
        return None
    return PermissionDenied("Only the project's owners can start a model evaluation.")


def evaluation_actions(role: Role | str | None) -> list[str]:
    """What a member with ``role`` may do on model evaluations (no queries)."""
    return ["start"] if evaluation_refusal(role) is None else []


# --- annotations -----------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """One user as one project sees them: worked out once (a request, a service call), asked often.

    Attributes:
        user_id: the user's primary key, or None for an anonymous caller.
        role: their role in the project, or None when they are not a member.
        allow_self_approval: the project's rule on approving one's own annotations.
    """

    user_id: int | None
    role: Role | None
    allow_self_approval: bool = False

    @classmethod
    def of(cls, user, project: Project) -> Access:
        """The access of ``user`` to ``project`` (one query for the role)."""
        return cls.with_role(user, project, role_of(user, project))

    @classmethod
    def with_role(cls, user, project: Project, role: Role | str | None) -> Access:
        """The access of ``user`` to ``project`` when their role there is already known (no query)."""
        authenticated = user is not None and user.is_authenticated
        return cls(
            user_id=user.pk if authenticated else None,
            role=Role(role) if role else None,
            allow_self_approval=project.allow_self_approval,
        )

    def at_least(self, minimum: Role | str) -> bool:
        return at_least(self.role, minimum)

    def refusal(self, action: str, annotation: Annotation) -> PermissionDenied | LockedForReview | None:
        """Why this user may not take ``action`` on the annotation, leaving its review state aside.

        Editing and deleting do depend on the state (an author's submitted or approved
        annotation is locked for review); whether a transition starts from the current
        state is :meth:`state_refusal`'s to say.
        """
        own = self.user_id is not None and annotation.author_id == self.user_id
        if action in ("edit", "delete"):
            if self.at_least(Role.REVIEWER):
                return None
            if not self.at_least(Role.ANNOTATOR) or not own:
                return PermissionDenied("Annotators can change only their own annotations.")
            if annotation.state in LOCKED_STATES:
                return LockedForReview(
                    f"This annotation is {annotation.state}, so it is locked for review; "
                    "only a reviewer or an owner can change it now.",
                    extra={"state": annotation.state},
                )
            return None
        if action == "submit":
            if self.at_least(Role.REVIEWER) or (self.at_least(Role.ANNOTATOR) and own):
                return None
            return PermissionDenied("Only the author, a reviewer or an owner can submit this annotation.")
        if action in ("approve", "reject"):
            if not self.at_least(Role.REVIEWER):
                return PermissionDenied("Only reviewers and owners review annotations.")
            drafted = annotation.source in REVIEWED_AS_DRAFTED
            if action == "approve" and own and not drafted and not self.allow_self_approval:
                return PermissionDenied("You cannot approve your own annotation in this project.")
            return None
        if action == "comment":
            return None if self.at_least(COMMENTER) else PermissionDenied("Viewers cannot comment.")
        raise ValueError(f"Unknown annotation action {action!r}; one of {', '.join(ANNOTATION_ACTIONS)}.")

    @staticmethod
    def state_refusal(action: str, annotation: Annotation) -> InvalidTransition | None:
        """Why a review transition cannot start from the annotation's state, or None."""
        if action not in TRANSITIONS:
            return None
        sources, target = TRANSITIONS[action]
        if annotation.state in sources:
            return None
        if (
            action in ("approve", "reject")
            and annotation.state == AnnotationState.DRAFT
            and annotation.source in REVIEWED_AS_DRAFTED
        ):
            return None
        return InvalidTransition(
            f"A {annotation.state} annotation cannot be {target}; only a {' or '.join(sources)} one can.",
            extra={"state": annotation.state},
        )

    def check(self, action: str, annotation: Annotation) -> None:
        """Raise :meth:`refusal` if there is one (PermissionDenied 403, LockedForReview 409)."""
        refused = self.refusal(action, annotation)
        if refused is not None:
            raise refused

    def check_state(self, action: str, annotation: Annotation) -> None:
        """Raise :meth:`state_refusal` if there is one (InvalidTransition 409)."""
        refused = self.state_refusal(action, annotation)
        if refused is not None:
            raise refused

    def allowed_actions(self, annotation: Annotation) -> list[str]:
        """The actions this user may take on the annotation now, sorted (no queries)."""
        return [a for a in ANNOTATION_ACTIONS if self.first_refusal(a, annotation) is None]

    def first_refusal(self, action: str, annotation: Annotation) -> GeopromptError | None:
        """The error a service would raise for ``action`` now (its version aside), or None."""
        return self.refusal(action, annotation) or self.state_refusal(action, annotation)

    # --- comment threads -------------------------------------------------------------------

    def thread_refusal(self, action: str, thread: CommentThread) -> PermissionDenied | None:
        """Why this user may not ``reply`` to, ``resolve`` or ``reopen`` the thread, or None.

        Resolving a resolved thread (or reopening an open one) is not refused: it changes
        nothing. :meth:`thread_actions` lists only the one that changes the thread.
        """
        if action == "reply":
            return None if self.at_least(COMMENTER) else PermissionDenied("Viewers cannot comment.")
        if action in ("resolve", "reopen"):
            if may_resolve(self.role, self.user_id, thread):
                return None
            return PermissionDenied("Only the thread's author, reviewers and owners resolve threads.")
        raise ValueError(f"Unknown thread action {action!r}; one of {', '.join(THREAD_ACTIONS)}.")

    def thread_actions(self, thread: CommentThread) -> list[str]:
        """What this user may do with the thread now, sorted (no queries): ``reply``, and
        ``resolve`` while it is open or ``reopen`` once it is resolved."""
        pointless = "resolve" if thread.resolved else "reopen"
        return [a for a in THREAD_ACTIONS if a != pointless and self.thread_refusal(a, thread) is None]
