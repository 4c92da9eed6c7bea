"""WSGI entry point for the web process."""

import os

# Set before torch loads OpenMP. Request threads call the SAM2 decoder in short bursts; with
# OpenMP's default spin-waiting, idle decoder threads keep burning the cores that the next
# requests need (measured: 350 ms of CPU per click spinning against 190 ms sleeping, at the
# same latency). An explicit OMP_WAIT_POLICY in the environment still wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
application = get_wsgi_application()


def _load_decoder() -> None:
    """Build the default SAM2 decoder (never the image encoder) now, so that the first click is not the slow one."""
    import logging

    from django.conf import settings

    from annotator.errors import GeopromptError
    from annotator.sam2 import decoder
    from annotator.sam2 import registry as sam2_models
    from annotator.sam2.threads import configure_torch_threads

    configure_torch_threads(settings.TORCH_THREADS)
    try:
        decoder.prepare(sam2_models.load_decoder(settings.SAM2_MODEL).model)
    except GeopromptError as exc:  # no checkpoint yet: the first click will say so
        logging.getLogger(__name__).warning("SAM2 decoder not preloaded: %s", exc)


def _sweep_temp() -> None:
    """Delete the temporary files that killed web processes left (uploads cut off mid-way) and expired
    resumable uploads (a database that is not up yet only postpones that to the next upload created)."""
    import logging

    from annotator.imagery.resumable import sweep_expired
    from annotator.storage import sweep_stale_temp

    sweep_stale_temp()
    try:
        sweep_expired()
    except Exception:
        logging.getLogger(__name__).warning("could not sweep expired uploads", exc_info=True)


def _close_connections() -> None:
    """Close what the start opened: under gunicorn's ``preload_app`` this runs in the master,
    and a forked worker must open its own database connection, never share the master's."""
    from django.db import connections

    connections.close_all()


_sweep_temp()
_load_decoder()
_close_connections()
