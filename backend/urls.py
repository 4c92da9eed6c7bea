from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from annotator import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("annotator.api.urls")),
    path("", views.project_list, name="project-list"),
    path("projects/<int:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<int:project_id>/review/", views.review, name="project-review"),
    path("projects/<int:project_id>/dashboard/", views.dashboard, name="project-dashboard"),
    path("projects/<int:project_id>/exports/", views.exports, name="project-exports"),
    path("projects/<int:project_id>/tasks/", views.my_tasks, name="project-tasks"),
    path("tasks/", views.my_tasks, name="my-tasks"),
    path("images/<int:image_id>/map/", views.image_map, name="image-map"),
    path("users/", views.users, name="users"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("password/<uidb64>/<token>/", views.PasswordSetView.as_view(), name="password-set"),
]

# API paths get JSON errors ({"code", "detail"}); pages keep Django's HTML ones.
handler400 = "annotator.errors.bad_request"
handler403 = "annotator.errors.permission_denied"
handler404 = "annotator.errors.page_not_found"
handler500 = "annotator.errors.server_error"
