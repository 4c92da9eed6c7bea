"""Upload handling: every uploaded file goes to a temporary file and is size-limited."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from annotator.errors import UploadTooLarge


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    """Streams uploads to disk and stops as soon as a file passes ``MAX_UPLOAD_BYTES``.

    The temporary file is closed (and so deleted) before the error propagates, so a
    refused upload leaves nothing behind.
    """

    def new_file(self, *args, **kwargs):
        self.received = 0
        return super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        limit = settings.MAX_UPLOAD_BYTES
        if self.received > limit:
            self.file.close()
            raise UploadTooLarge(f"The file is larger than the upload limit of {limit} bytes.", field="file")
        return super().receive_data_chunk(raw_data, start)
