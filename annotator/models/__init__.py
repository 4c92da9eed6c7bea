"""Data model. Geometries are stored in SRID 4326 unless a field says otherwise."""

from annotator.models.annotation import (
    Annotation,
    AnnotationSource,
    AnnotationState,
    AnnotationVersion,
    AssignedArea,
    CommentThread,
    ReviewComment,
    VectorImport,
    VersionAction,
)
from annotator.models.consensus import ConsensusRun
from annotator.models.drafts import DraftRun
from annotator.models.evaluation import ModelEvaluation
from annotator.models.export import Export, ExportFormat
from annotator.models.feature import EncodeRequest, FeatureTile
from annotator.models.image import Image
from annotator.models.job import Job
from annotator.models.project import Invitation, LabelClass, Membership, Project
from annotator.models.upload import ResumableUpload

__all__ = [
    "Annotation",
    "AnnotationSource",
    "AnnotationState",
    "AnnotationVersion",
    "AssignedArea",
    "CommentThread",
    "ConsensusRun",
    "DraftRun",
    "EncodeRequest",
    "Export",
    "ExportFormat",
    "FeatureTile",
    "Image",
    "Invitation",
    "Job",
    "LabelClass",
    "Membership",
    "ModelEvaluation",
    "Project",
    "ResumableUpload",
    "ReviewComment",
    "VectorImport",
    "VersionAction",
]
