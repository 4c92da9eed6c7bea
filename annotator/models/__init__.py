"""Data model. Geometries are stored in SRID 4326 unless a field says otherwise."""

from annotator.models.image import Image
from annotator.models.job import Job
from annotator.models.project import LabelClass, Membership, Project

__all__ = ["Image", "Job", "LabelClass", "Membership", "Project"]
