from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotator.choices import Role


class ProjectQuerySet(models.QuerySet):
    def for_user(self, user) -> ProjectQuerySet:
        """Projects the user is a member of; anonymous users get none."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)

    def with_counts(self) -> ProjectQuerySet:
        """Each project with ``image_count`` and ``annotation_count`` (live ones), by subqueries:
        no join multiplies the rows, and a list costs no query per project."""
        from annotator.models.annotation import Annotation
        from annotator.models.image import Image

        def count(rows: models.QuerySet) -> Coalesce:
            per_project = rows.filter(project=OuterRef("pk")).order_by().values("project")
            return Coalesce(Subquery(per_project.annotate(n=Count("pk")).values("n")), 0)

        return self.annotate(image_count=count(Image.objects.all()), annotation_count=count(Annotation.objects.live()))


def default_sam2_model() -> str:
    """The SAM2 model a new project starts with: ``GEOPROMPT_SAM2_MODEL`` (``settings.SAM2_MODEL``)."""
    return settings.SAM2_MODEL


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    sam2_model = models.CharField(max_length=64, default=default_sam2_model)
    allow_self_approval = models.BooleanField(
        default=False, help_text="whether a reviewer may approve an annotation they authored"
    )
    require_label = models.BooleanField(
        default=True, help_text="whether an annotation needs a label class before it is submitted"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def storage_prefix(self) -> str:
        """Storage folder of everything the project keeps (images, features, exports)."""
        return f"projects/{self.pk}"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")]
        ordering = ["project_id", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class LabelClass(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="label_classes")
    name = models.CharField(max_length=100)
    colour = models.CharField(
        max_length=7,
        default="#ff7f0e",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a hex colour like #1f77b4.")],
    )
    order = models.PositiveIntegerField(default=0, help_text="position in the list; keys 1-9 follow it")
    archived = models.BooleanField(default=False, help_text="hidden from new work, kept on the annotations that use it")
    attributes = models.JSONField(
        default=list,
        blank=True,
        help_text="attribute definitions: [{name, type: text|number|choice|boolean, required, choices}]",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="labelclass_unique_name")]
        ordering = ["project_id", "order", "name"]

    def __str__(self) -> str:
        return self.name


class InvitationQuerySet(models.QuerySet):
    def pending(self) -> InvitationQuerySet:
        """Invitations that can still be accepted: not used, not expired."""
        return self.filter(accepted_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """A one-time link, made by an owner, that lets its holder join a project with a role.

    Only the SHA-256 of the link's token is stored: the token itself is shown once, to the
    owner who makes the invitation, and whoever holds the link can use it once before
    ``expires_at``.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token, hex")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    accepted_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return f"invitation to {self.project} as {self.role}"

    @property
    def status(self) -> str:
        """``accepted``, ``expired`` or ``pending``."""
        if self.accepted_at is not None:
            return "accepted"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"
