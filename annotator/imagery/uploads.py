"""Upload handling: every uploaded file goes to a temporary file and is size-limited."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from annotator.errors import UploadTooLarge


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    """Streams uploads to disk and stops as soon as a file passes ``MAX_UPLOAD_BYTES``.

    The temporary file (``FILE_UPLOAD_TEMP_DIR``, the app's ``TEMP_DIR``) is closed, and so
    deleted, before the error propagates, so a refused upload leaves nothing behind; an
    interrupted one is deleted by Django (``upload_interrupted``). Only a process killed
    mid-upload leaves its file, which the start-up sweep
    (:func:`annotator.storage.sweep_stale_temp`) removes once it is an hour old.
    """

    def new_file(self, *args, **kwargs):
        self.received = 0
        # The folder is made here, not in settings (no side effects at import).
        os.makedirs(settings.FILE_UPLOAD_TEMP_DIR, exist_ok=True)
        return super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        limit = settings.MAX_UPLOAD_BYTES
        if self.received > limit:
            self.file.close()
            raise UploadTooLarge(f"The file is larger than the upload limit of {limit} bytes.", field="file")
        return super().receive_data_chunk(raw_data, start)
