"""Celery tasks: thin wrappers that load a Job row and call a service."""

from tasks.encode import encode_image_task
from tasks.export import export_task
from tasks.ingest import ingest_image_task
from tasks.vector_import import import_vectors_task

__all__ = ["encode_image_task", "export_task", "import_vectors_task", "ingest_image_task"]
