from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from annotator.choices import Role


class ProjectQuerySet(models.QuerySet):
    def for_user(self, user) -> ProjectQuerySet:
        """Projects the user is a member of; anonymous users get none."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)


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
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.name


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
    order = models.PositiveIntegerField(default=0)
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
