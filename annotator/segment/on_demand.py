"""A click on an image whose encode has not reached the click's windows: encode those first.

What a click needs: at most the two finest levels' windows that the segment service would
choose for its prompts (``service.needed_windows``): the finest level's window holding every
prompt with the most margin to its cut edges, and the next coarser level's, which the
service tries when the mask reaches a cut edge. With both stored, the answer is the one a
fully encoded image gives (the service chooses among stored windows the same way).

When one is missing, :func:`ensure_windows` asks for them at the highest priority
(``EncodeRequest`` rows, :mod:`annotator.sam2.priority`), starts an encode job when none is
queued or running, and waits up to ``GEOPROMPT_SAM2_ON_DEMAND_WAIT_S`` for their
FeatureTile rows; past that it raises ``encoding_area`` (409) with the windows' state and a
retry hint, and the page asks again. The web process never encodes: the encode worker does,
so a window is encoded once however many clicks race for it.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction

from annotator.choices import EncodePriority, ImageStatus, JobKind, JobStatus
from annotator.errors import Conflict, EncodingArea, EncodingFailed
from annotator.jobs import latest_job_for
from annotator.models import EncodeRequest, Image
from annotator.sam2 import encode_jobs, priority
from annotator.sam2.encoding import current_cache_key, encoding_summary
from annotator.sam2.priority import WindowId, window_id
from annotator.sam2.windows import Window

# The page asks again after this many seconds (a hint in the 409 body).
RETRY_AFTER_S = 2.0
# Poll interval of the bounded wait on the FeatureTile rows, seconds.
POLL_S = 0.1
# The levels a click may use: the finest holding window and the next coarser one.
LEVELS_USED = 2


def needs_on_demand(image: Image) -> bool:
    """Whether a click on ``image`` may need windows encoded first (ingested, not fully encoded).

    Raises the 409 the click path always gave for an image without a COG (uploaded,
    ingesting, failed).
    """
    if image.status == ImageStatus.ENCODED:
        return False
    if image.cog_key and image.status in (ImageStatus.READY, ImageStatus.ENCODING):
        return True
    job = latest_job_for(image, JobKind.ENCODE)
    job_info = None if job is None else _job_info(job)
    raise Conflict(
        f"The image is {image.status}; it can be segmented once its SAM2 features are encoded.",
        extra={"image_status": image.status, "job": job_info},
    )


def ensure_windows(image: Image, windows: list[Window]) -> None:
    """Return once ``windows`` (what a click needs, ``service.needed_windows``) are stored;
    ask for them first and wait a little.

    Raises:
        EncodingArea: they are not stored within ``GEOPROMPT_SAM2_ON_DEMAND_WAIT_S``
            (409; the body lists each window with ``stored``, the encode job and
            ``retry_after_s``).
        EncodingFailed: the encode job that had them failed (409); the next click asks again.
    """
    key = current_cache_key(image)
    needed = [window_id(w) for w in windows]
    if not needed or priority.stored_windows(image, key, needed) == set(needed):
        return
    priority.request_windows(image, key, needed, EncodePriority.CLICK)
    job = _ensure_encode_job(image, key, needed)
    deadline = time.monotonic() + settings.SAM2_ON_DEMAND_WAIT_S
    while True:
        stored = priority.stored_windows(image, key, needed)
        if stored == set(needed):
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    job.refresh_from_db()
    if job.status == JobStatus.FAILED:
        _failed(image, key, needed, job)
    raise EncodingArea(
        "Encoding this area: SAM2 encodes the windows under the click first; ask again shortly.",
        extra={
            "image_status": Image.objects.filter(pk=image.pk).values_list("status", flat=True).first(),
            "windows": [
                {"level": lv, "row_off": r, "col_off": c, "stored": (lv, r, c) in stored} for lv, r, c in needed
            ],
            "retry_after_s": RETRY_AFTER_S,
            "job": _job_info(job),
        },
    )


def _ensure_encode_job(image: Image, key: str, needed: list[WindowId]):
    """The image's queued or running encode job; one is started when there is none.

    The image row is locked meanwhile, so two clicks that find no job start one, not two
    (a second would cancel the first). A job that failed after these windows were asked
    for is not started again: :class:`EncodingFailed`.
    """
    with transaction.atomic():
        Image.objects.select_for_update().filter(pk=image.pk).first()
        active = encode_jobs.active_encode_jobs(image).order_by("-id").first()
        if active is not None:
            return active
        failed = None
        latest = latest_job_for(image, JobKind.ENCODE)
        first_asked = (
            EncodeRequest.objects.filter(image=image, cache_key=key, priority=EncodePriority.CLICK)
            .order_by("requested_at")
            .values_list("requested_at", flat=True)
            .first()
        )
        if (
            latest is not None
            and latest.status == JobStatus.FAILED
            and latest.finished_at is not None
            and first_asked is not None
            and first_asked <= latest.finished_at
        ):
            failed = latest
        else:
            return encode_jobs.start_encode(image)
    _failed(image, key, needed, failed)


def _failed(image: Image, key: str, needed: list[WindowId], job) -> None:
    # The requests go with the failure: the next click asks (and starts a job) afresh.
    EncodeRequest.objects.filter(image=image, cache_key=key, priority=EncodePriority.CLICK).delete()
    raise EncodingFailed(
        f"Encoding this area failed: {job.error or job.message or 'the encode job failed'}. Click again to retry.",
        extra={"job": _job_info(job)},
    )


def _job_info(job) -> dict:
    return {"id": job.pk, "status": job.status, "progress": job.progress, "message": job.message}


def report_view(image: Image, bbox: tuple[float, float, float, float]) -> dict:
    """An annotate page's view: ask for its windows (priority VIEW) and say how many are ready.

    Args:
        image: the image on the page.
        bbox: the view, (west, south, east, north) in EPSG:4326 degrees.
    Returns:
        ``{"windows": n, "ready": m, "image_windows": N, "image_encoded": M}``: the view's
        windows (:func:`~annotator.sam2.priority.view_windows`, at most
        ``VIEW_MAX_WINDOWS``) and how many are stored, and the same for the whole image.
        Nothing is asked for an image that is encoded or not ingested.
    """
    if (
        not image.cog_key
        or not image.width
        or image.status
        not in (
            ImageStatus.READY,
            ImageStatus.ENCODING,
            ImageStatus.ENCODED,
        )
    ):
        return {"windows": 0, "ready": 0, "image_windows": 0, "image_encoded": 0}
    key = current_cache_key(image)
    wanted = [window_id(w) for w in priority.view_windows(image, bbox)]
    ready = priority.stored_windows(image, key, wanted)
    if image.status != ImageStatus.ENCODED:
        priority.request_windows(image, key, [w for w in wanted if w not in ready], EncodePriority.VIEW)
    summary = encoding_summary(image) or {}
    return {
        "windows": len(wanted),
        "ready": len(ready),
        "image_windows": summary.get("windows", 0),
        "image_encoded": summary.get("encoded_windows", 0),
    }
