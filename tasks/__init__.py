"""Celery tasks: thin wrappers that load a Job row and call a service."""

from tasks.ingest import ingest_image_task

__all__ = ["ingest_image_task"]
