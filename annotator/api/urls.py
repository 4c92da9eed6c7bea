from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from annotator.api import annotation_views, export_views, segment_views, views

router = DefaultRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register(r"projects/(?P<project_pk>\d+)/members", views.MembershipViewSet, basename="membership")
router.register(r"projects/(?P<project_pk>\d+)/label-classes", views.LabelClassViewSet, basename="labelclass")
router.register(r"projects/(?P<project_pk>\d+)/images", views.ProjectImageViewSet, basename="project-image")
router.register(r"projects/(?P<project_pk>\d+)/jobs", views.ProjectJobViewSet, basename="project-job")
router.register("images", views.ImageViewSet, basename="image")
router.register("jobs", views.JobViewSet, basename="job")
# The annotation workflow (issue 5).
in_project = r"projects/(?P<project_pk>\d+)"
router.register(f"{in_project}/annotations", annotation_views.ProjectAnnotationViewSet, basename="project-annotation")
router.register("annotations", annotation_views.AnnotationViewSet, basename="annotation")
router.register(f"{in_project}/review", annotation_views.ReviewViewSet, basename="review")
router.register(f"{in_project}/areas", annotation_views.AssignedAreaViewSet, basename="area")
router.register(f"{in_project}/comments", annotation_views.CommentThreadViewSet, basename="comment-thread")
router.register(f"{in_project}/dashboard", annotation_views.DashboardViewSet, basename="dashboard")
router.register(f"{in_project}/imports", annotation_views.VectorImportViewSet, basename="vector-import")
# Exports (issue 7).
router.register(f"{in_project}/exports", export_views.ProjectExportViewSet, basename="project-export")
router.register("exports", export_views.ExportViewSet, basename="export")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("images/<int:pk>/segment", segment_views.ImageSegmentView.as_view(), name="image-segment"),
    path("images/<int:pk>/segment/", segment_views.ImageSegmentView.as_view()),
    path("", include(router.urls)),
]
