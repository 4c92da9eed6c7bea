"""The tus 1.0.0 endpoint of a project (owners): ``/api/v1/projects/{id}/uploads/`` and ``…/uploads/{uuid}/``.

Session (with CSRF) or token authentication like the rest of the API; the protocol logic is
:mod:`annotator.imagery.resumable`'s. Left out of the OpenAPI schema: its operations are
the tus protocol's (headers, not JSON bodies), documented at tus.io. Errors are still the
API's JSON ``{code, detail}``, with tus's statuses (409 offset, 412 version, 413 size, 460
checksum, 410 expired).
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.http import http_date
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.api.base import ProjectScopedMixin
from annotator.errors import TusVersionUnsupported
from annotator.imagery import resumable
from annotator.models import ResumableUpload

PATCH_CONTENT_TYPE = "application/offset+octet-stream"


class TusView(ProjectScopedMixin, APIView):
    """Shared by both routes: the tus version check, and ``Tus-Resumable`` on every answer."""

    schema = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != resumable.TUS_VERSION:
            raise TusVersionUnsupported(
                f"Send Tus-Resumable: {resumable.TUS_VERSION} (the only version this server speaks)."
            )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = resumable.TUS_VERSION
        if response.status_code == 412:
            response["Tus-Version"] = resumable.TUS_VERSION
        response["Cache-Control"] = "no-store"
        return response

    def options(self, request, *args, **kwargs):
        self.get_collection_project()
        return Response(
            status=204,
            headers={
                "Tus-Version": resumable.TUS_VERSION,
                "Tus-Extension": resumable.TUS_EXTENSIONS,
                "Tus-Max-Size": str(settings.MAX_RESUMABLE_UPLOAD_BYTES),
                "Tus-Checksum-Algorithm": resumable.CHECKSUM_ALGORITHMS,
            },
        )


def _expires(upload: ResumableUpload) -> str:
    return http_date(upload.expires_at.timestamp())


class UploadCollectionView(TusView):
    """tus creation: ``POST`` with ``Upload-Length`` and ``Upload-Metadata`` (``filename``, ``name``)."""

    def post(self, request, *args, **kwargs):
        project = self.get_collection_project()
        upload = resumable.create_upload(
            project, request.user, request.headers.get("Upload-Length"), request.headers.get("Upload-Metadata")
        )
        location = request.build_absolute_uri(
            reverse("tus-upload", kwargs={"project_pk": project.pk, "upload_id": upload.pk})
        )
        return Response(status=201, headers={"Location": location, "Upload-Expires": _expires(upload)})


class UploadView(TusView):
    """One upload: ``HEAD`` (its offset), ``PATCH`` (the next part), ``DELETE`` (termination)."""

    def _upload(self) -> ResumableUpload:
        return resumable.get_upload(self.get_collection_project(), self.kwargs["upload_id"])

    def head(self, request, *args, **kwargs):
        upload = self._upload()
        headers = {
            "Upload-Offset": str(upload.offset),
            "Upload-Length": str(upload.length),
            "Upload-Expires": _expires(upload),
        }
        if upload.image_id is not None:
            headers["Geoprompt-Image-Id"] = str(upload.image_id)
        return Response(status=200, headers=headers)

    def patch(self, request, *args, **kwargs):
        upload = self._upload()
        if request.content_type.split(";")[0].strip() != PATCH_CONTENT_TYPE:
            raise UnsupportedMediaType(request.content_type, f"A PATCH carries Content-Type: {PATCH_CONTENT_TYPE}.")
        received = resumable.receive_chunk(
            upload,
            request.headers.get("Upload-Offset"),
            request.headers.get("Content-Length"),
            request.headers.get("Upload-Checksum"),
            request._request,  # the raw body stream, read in blocks (never request.body)
            request.user,
        )
        headers = {"Upload-Offset": str(received.upload.offset), "Upload-Expires": _expires(received.upload)}
        if received.image is not None:
            headers["Geoprompt-Image-Id"] = str(received.image.pk)
        return Response(status=204, headers=headers)

    def delete(self, request, *args, **kwargs):
        resumable.terminate(self._upload())
        return Response(status=204)
