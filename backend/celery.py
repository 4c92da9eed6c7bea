"""The Celery application. Queues: ``default`` (ingest, exports, imports), ``encode`` (SAM2)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

app = Celery("geoprompt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["tasks"], related_name=None)


@worker_ready.connect
def sweep_temp_at_start(**kwargs) -> None:
    """Delete the temporary files that killed workers left (export folders, local copies) and expired uploads."""
    from annotator.imagery.resumable import sweep_expired
    from annotator.storage import sweep_stale_temp

    sweep_stale_temp()
    sweep_expired()
