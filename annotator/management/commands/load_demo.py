"""Create the demo users, project, label classes and image. Safe to run again."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand
from django.db import transaction

from annotator.choices import Role
from annotator.imagery import images as image_service
from annotator.models import LabelClass, Membership, Project

DEMO_PROJECT = "Demo: prairie fields (NAIP 2020)"
DEMO_IMAGE = Path(settings.BASE_DIR) / "fixtures" / "rasters" / "naip_rgbn_utm14_2020.tif"
DEMO_USERS = [("owner", Role.OWNER), ("reviewer", Role.REVIEWER), ("annotator", Role.ANNOTATOR)]
DEMO_CLASSES = [("field", "#e3b505"), ("pond", "#1f77b4"), ("road", "#7f7f7f"), ("building", "#d62728")]


class Command(BaseCommand):
    help = "Create demo users (owner, a staff user; reviewer, annotator), a demo project and its NAIP image."

    def add_arguments(self, parser):
        parser.add_argument("--reset-passwords", action="store_true", help="give the demo users new passwords")

    def handle(self, *args, reset_passwords: bool = False, **options):
        user_model = get_user_model()
        with transaction.atomic():
            project, created = Project.objects.get_or_create(
                name=DEMO_PROJECT, defaults={"description": "Fields, ponds and roads near Harvey, North Dakota."}
            )
            for username, role in DEMO_USERS:
                user = user_model.objects.filter(username=username).first()
                if user is None or reset_passwords:
                    password = secrets.token_urlsafe(9)
                    if user is None:
                        user = user_model.objects.create_user(username=username, password=password)
                    else:
                        user.set_password(password)
                        user.save(update_fields=["password"])
                    self.stdout.write(f"  user {username:<10} password {password}")
                else:
                    self.stdout.write(f"  user {username:<10} exists (password unchanged; --reset-passwords)")
                Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
                if username == "owner" and not user.is_staff:
                    # The demo's owner runs the server too: new projects, invitations, users.
                    user.is_staff = True
                    user.save(update_fields=["is_staff"])
            if created:
                project.created_by = user_model.objects.get(username="owner")
                project.save(update_fields=["created_by"])
            for order, (name, colour) in enumerate(DEMO_CLASSES):
                LabelClass.objects.get_or_create(
                    project=project, name=name, defaults={"colour": colour, "order": order}
                )
            image = project.images.filter(name=DEMO_IMAGE.name).exclude(status="failed").first()
            if image is None:
                with DEMO_IMAGE.open("rb") as fh:
                    image, job = image_service.create_from_upload(
                        project, File(fh, name=DEMO_IMAGE.name), project.created_by, DEMO_IMAGE.name
                    )
                self.stdout.write(f"  image {image.name} uploaded; ingest job {job.pk} queued")
            else:
                self.stdout.write(f"  image {image.name} already there ({image.status})")
        self.stdout.write(
            self.style.SUCCESS(f"Demo project {project.pk}: {project.name}; map at /images/{image.pk}/map/")
        )
