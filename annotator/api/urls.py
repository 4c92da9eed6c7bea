from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from annotator.api.assignments import views as assignment_views
from annotator.api.drafts import views as draft_views
from annotator.api.exports import views as export_views
from annotator.api.imagery import uploads as upload_views
from annotator.api.imagery import views as imagery_views
from annotator.api.jobs import views as job_views
from annotator.api.projects import views as project_views
from annotator.api.quality import agreement_views, evaluation_views
from annotator.api.quality import regularise as regularise_views
from annotator.api.segment import views as segment_views
from annotator.api.team import views as team_views
from annotator.api.workflow import views as workflow_views

router = DefaultRouter()
router.register("projects", project_views.ProjectViewSet, basename="project")
router.register(r"projects/(?P<project_pk>\d+)/members", project_views.MembershipViewSet, basename="membership")
router.register(r"projects/(?P<project_pk>\d+)/label-classes", project_views.LabelClassViewSet, basename="labelclass")
router.register(r"projects/(?P<project_pk>\d+)/images", imagery_views.ProjectImageViewSet, basename="project-image")
router.register(r"projects/(?P<project_pk>\d+)/jobs", job_views.ProjectJobViewSet, basename="project-job")
router.register("images", imagery_views.ImageViewSet, basename="image")
router.register("jobs", job_views.JobViewSet, basename="job")
# The annotation workflow.
in_project = r"projects/(?P<project_pk>\d+)"
router.register(f"{in_project}/annotations", workflow_views.ProjectAnnotationViewSet, basename="project-annotation")
router.register("annotations", workflow_views.AnnotationViewSet, basename="annotation")
# Building regularisation (annotator/quality/regularise.py).
router.register(f"{in_project}/annotations/regularise", regularise_views.RegulariseViewSet, basename="regularise")
router.register(f"{in_project}/review", workflow_views.ReviewViewSet, basename="review")
router.register(f"{in_project}/comments", workflow_views.CommentThreadViewSet, basename="comment-thread")
router.register(f"{in_project}/dashboard", workflow_views.DashboardViewSet, basename="dashboard")
# Model evaluation (annotator/quality/evaluation.py).
router.register(f"{in_project}/model-evaluations", evaluation_views.ModelEvaluationViewSet, basename="model-evaluation")
# Annotator agreement and consensus drafts (annotator/quality/agreement.py).
router.register(f"{in_project}/agreement", agreement_views.AgreementViewSet, basename="agreement")
router.register(f"{in_project}/imports", workflow_views.VectorImportViewSet, basename="vector-import")
# Assigned areas, each member's tasks, progress per image and area.
router.register(f"{in_project}/areas", assignment_views.AssignedAreaViewSet, basename="area")
router.register(f"{in_project}/progress", assignment_views.ProjectProgressViewSet, basename="project-progress")
router.register("tasks", assignment_views.TaskViewSet, basename="task")
# Team set-up: invitation links (owners), user accounts (staff).
router.register(f"{in_project}/invitations", team_views.ProjectInvitationViewSet, basename="project-invitation")
router.register("users", team_views.UserViewSet, basename="user")
# Exports.
router.register(f"{in_project}/exports", export_views.ProjectExportViewSet, basename="project-export")
router.register("exports", export_views.ExportViewSet, basename="export")
# Drafts at scale: segment everything, find similar (annotator/drafts/).
router.register(r"images/(?P<image_pk>\d+)/draft-runs", draft_views.ImageDraftRunViewSet, basename="image-draft-run")
router.register("draft-runs", draft_views.DraftRunViewSet, basename="draft-run")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("invitations/accept/", team_views.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("images/<int:pk>/segment", segment_views.ImageSegmentView.as_view(), name="image-segment"),
    # The same view with a trailing slash; left out of the schema so that it has one operation.
    path("images/<int:pk>/segment/", segment_views.ImageSegmentView.as_view(schema=None)),
    # Resumable uploads: the tus 1.0.0 protocol (annotator/imagery/resumable.py).
    path("projects/<int:project_pk>/uploads/", upload_views.UploadCollectionView.as_view(), name="tus-uploads"),
    path("projects/<int:project_pk>/uploads/<uuid:upload_id>/", upload_views.UploadView.as_view(), name="tus-upload"),
    path("", include(router.urls)),
]
