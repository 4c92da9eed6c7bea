"""Create the demo users, project, label classes, image, annotations and model evaluation. Safe to run again.

The image's ingest job runs here, in this process (a Job row like any other: a worker that
receives its message later finds it finished), because the demo's annotations need the
ingested image; the encode job it queues and the model evaluation run on the worker.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand
from django.db import transaction

from annotator import demo, jobs
from annotator.choices import ImageStatus, JobKind, JobStatus, Role
from annotator.errors import GeopromptError
from annotator.imagery import images as image_service
from annotator.models import Image, LabelClass, Membership, Project

DEMO_PROJECT = "Demo: prairie fields (NAIP 2020)"
DEMO_IMAGE = Path(settings.BASE_DIR) / "fixtures" / "rasters" / "naip_rgbn_utm14_2020.tif"
DEMO_USERS = [
    ("owner", Role.OWNER),
    ("reviewer", Role.REVIEWER),
    ("annotator", Role.ANNOTATOR),
    # Two more annotators, given the same ground as the first (annotator.demo's Block A).
    ("annotator2", Role.ANNOTATOR),
    ("annotator3", Role.ANNOTATOR),
]
# How long to wait for an ingest that a running worker took over (seconds).
INGEST_WAIT_S = 120
DEMO_CLASSES = [("field", "#e3b505"), ("pond", "#1f77b4"), ("road", "#7f7f7f"), ("building", "#d62728")]


class Command(BaseCommand):
    help = (
        "Create demo users (owner, a staff user; reviewer, three annotators), a demo project, its NAIP image, "
        "approved reference ponds, overlapping areas with the annotators' own outlines, and a model evaluation job."
    )

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
        users = {u.username: u for u in user_model.objects.filter(username__in=[name for name, _ in DEMO_USERS])}
        image = self._ingested(image)
        if image.status not in (ImageStatus.READY, ImageStatus.ENCODING, ImageStatus.ENCODED):
            self.stdout.write(self.style.WARNING(f"  image {image.name} is {image.status}: no demo annotations yet"))
        else:
            made = demo.add_demo_annotations(
                project, image, users["annotator"], users["reviewer"], [users["annotator2"], users["annotator3"]]
            )
            self.stdout.write(
                f"  annotations: {made.approved} approved reference ponds, {made.areas} areas, "
                f"{made.redrawn} outlines by annotator2 and annotator3 (0: there already)"
            )
            try:
                evaluation = demo.queue_demo_evaluation(project, users["owner"])
            except GeopromptError as exc:
                self.stdout.write(self.style.WARNING(f"  no model evaluation: {exc.message}"))
            else:
                if evaluation is None:
                    self.stdout.write("  model evaluation: there already")
                else:
                    self.stdout.write(
                        f"  model evaluation of {evaluation.model_name} on {demo.EVALUATION_SAMPLE} ponds: "
                        f"job {evaluation.job.pk} queued (runs on the worker after the encode job)"
                    )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo project {project.pk}: {project.name}; map at /images/{image.pk}/map/, "
                f"dashboard at /projects/{project.pk}/dashboard/"
            )
        )

    def _ingested(self, image: Image) -> Image:
        """Run the image's queued ingest job here; wait for one a worker runs. The image, refreshed."""
        job = jobs.latest_job_for(image, JobKind.INGEST)
        if job is not None and job.status == JobStatus.QUEUED:
            self.stdout.write(f"  ingesting {image.name} here (job {job.pk})...")
            job = jobs.run_job(job.pk)
            if job is not None and job.status == JobStatus.FAILED:
                self.stdout.write(self.style.ERROR(f"  ingest failed: {job.error}"))
        deadline = time.monotonic() + INGEST_WAIT_S
        image.refresh_from_db()
        while image.status in (ImageStatus.UPLOADED, ImageStatus.INGESTING) and time.monotonic() < deadline:
            time.sleep(1)  # a worker holds the ingest job: its row says when it is done
            image.refresh_from_db()
        return image
