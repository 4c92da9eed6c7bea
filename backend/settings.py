"""Geoprompt settings. Every value comes from an environment variable (see .env.example)."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from annotator.sam2 import catalog as sam2_catalog
from backend.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("GEOPROMPT_DEBUG", False)
# An insecure default is accepted only in debug mode so that a laptop works out of the box
# while a production start without a key fails loudly.
SECRET_KEY = env_secret("GEOPROMPT_SECRET_KEY", "insecure-dev-key-change-me" if DEBUG else None)
ALLOWED_HOSTS = env_list("GEOPROMPT_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("GEOPROMPT_CSRF_TRUSTED_ORIGINS", [])

DATABASE_URL = env_url(
    "GEOPROMPT_DATABASE_URL",
    "postgres://postgres@127.0.0.1:5432/geoprompt",
    ("postgres", "postgresql", "postgis"),
)
DATABASES = {"default": database_from_url("GEOPROMPT_DATABASE_URL", DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("GEOPROMPT_REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix"))

# Storage: a local directory (file:///abs/path or a plain path) or an S3-compatible bucket
# (s3://bucket/prefix, endpoint from GEOPROMPT_S3_ENDPOINT_URL, keys from the usual AWS_* variables).
STORAGE_URL = env_str("GEOPROMPT_STORAGE_URL", str(BASE_DIR / "var" / "storage"))
S3_ENDPOINT_URL = env_str("GEOPROMPT_S3_ENDPOINT_URL", "")
# Temporary files (uploads being received, exports being built, local copies of stored
# objects): a folder only Geoprompt uses, since what a killed process leaves in it is
# deleted at the next start once an hour old (annotator.storage.sweep_stale_temp).
TEMP_DIR = env_str("GEOPROMPT_TEMP_DIR", str(BASE_DIR / "var" / "tmp"))

# Uploads: bytes, and pixels (width x height) accepted by ingest.
MAX_UPLOAD_BYTES = env_int("GEOPROMPT_MAX_UPLOAD_BYTES", 2 * 1024**3, minimum=1)
# Resumable (tus) uploads and imports by reference: the largest original in bytes (far above
# the multipart limit: chunks go to storage, never to memory), the most bytes one PATCH may
# carry (also the browser's chunk size), and the hours an unfinished upload is kept after
# its last chunk (then its parts are deleted: annotator.imagery.resumable.sweep_expired).
MAX_RESUMABLE_UPLOAD_BYTES = env_int("GEOPROMPT_MAX_RESUMABLE_UPLOAD_BYTES", 50 * 1024**3, minimum=1)
RESUMABLE_CHUNK_BYTES = env_int("GEOPROMPT_RESUMABLE_CHUNK_BYTES", 32 * 1024**2, minimum=1024)
RESUMABLE_UPLOAD_EXPIRY_H = env_int("GEOPROMPT_RESUMABLE_UPLOAD_EXPIRY_H", 24, minimum=1)
# Import by reference (annotator.imagery.references): the hosts (https) and s3://bucket
# entries an owner may import from; empty disables the feature. "http://host" allows plain
# HTTP for that host. IMPORT_ALLOW_LOOPBACK lets a URL resolve to loopback addresses (never
# private, link-local...): for the test suite's local servers only, never in production.
IMPORT_ALLOWLIST = env_list("GEOPROMPT_IMPORT_ALLOWLIST", [])
IMPORT_ALLOW_LOOPBACK = env_bool("GEOPROMPT_IMPORT_ALLOW_LOOPBACK", False)
MAX_IMAGE_PIXELS = env_int("GEOPROMPT_MAX_IMAGE_PIXELS", 40_000 * 40_000, minimum=1)
# Statistics are computed on a decimated read of at most this many pixels.
STATS_MAX_PIXELS = env_int("GEOPROMPT_STATS_MAX_PIXELS", 4_000_000, minimum=1024)

# Annotations: most vertices one geometry may have; vector imports: bytes (uncompressed for
# zips) and features one import may hold.
MAX_ANNOTATION_VERTICES = env_int("GEOPROMPT_MAX_ANNOTATION_VERTICES", 10_000, minimum=4)
MAX_IMPORT_BYTES = env_int("GEOPROMPT_MAX_IMPORT_BYTES", 200 * 1024**2, minimum=1)
MAX_IMPORT_FEATURES = env_int("GEOPROMPT_MAX_IMPORT_FEATURES", 100_000, minimum=1)
# Exports: most chips one export may cut, counted from the images' sizes before the job is
# queued (chip_size 32 with overlap 31 once meant 514,000 chips and a worker past 930 MB).
EXPORT_MAX_CHIPS = env_int("GEOPROMPT_EXPORT_MAX_CHIPS", 20_000, minimum=1)

# Tiles: the tiler's public base URL as the browser sees it, and the lifetime of a tile token.
TILER_URL = env_str("GEOPROMPT_TILER_URL", "http://127.0.0.1:8001")
TILE_TOKEN_MAX_AGE_S = env_int("GEOPROMPT_TILE_TOKEN_MAX_AGE_S", 12 * 3600, minimum=1)
# Longest side, in pixels, of any image the tiler renders (preview, statistics, tiles): one
# 8000 x 8000 preview took 14.5 s and 1.4 GB, so larger requests are refused with 400.
TILER_MAX_SIZE = env_int("GEOPROMPT_TILER_MAX_SIZE", 2048, minimum=256)

# SAM2.
# The model of new projects (API and load_demo); each project may change its own later.
SAM2_MODEL = env_choice("GEOPROMPT_SAM2_MODEL", sam2_catalog.DEFAULT_MODEL, list(sam2_catalog.MODELS))
SAM2_CHECKPOINT_DIR = env_str("GEOPROMPT_SAM2_CHECKPOINT_DIR", str(BASE_DIR / "var" / "checkpoints"))
SAM2_ALLOW_UNTRAINED = env_bool("GEOPROMPT_SAM2_ALLOW_UNTRAINED", False)
SAM2_UNTRAINED_SEED = env_int("GEOPROMPT_SAM2_UNTRAINED_SEED", 0, minimum=0)
SAM2_DEVICE = env_choice("GEOPROMPT_SAM2_DEVICE", "auto", ["auto", "cpu", "cuda"])
SAM2_BATCH_SIZE = env_int("GEOPROMPT_SAM2_BATCH_SIZE", 1, minimum=1)
SAM2_WINDOW_STRIDE = env_int("GEOPROMPT_SAM2_WINDOW_STRIDE", 768, minimum=1)
SAM2_FEATURE_CACHE_BYTES = env_int("GEOPROMPT_SAM2_FEATURE_CACHE_BYTES", 512 * 1024**2, minimum=0)
SAM2_PROMPT_SESSION_TTL_S = env_int("GEOPROMPT_SAM2_PROMPT_SESSION_TTL_S", 1800, minimum=1)
# Seconds a click waits for its windows to be encoded on demand before answering 409 encoding_area.
SAM2_ON_DEMAND_WAIT_S = env_float("GEOPROMPT_SAM2_ON_DEMAND_WAIT_S", 4.0, minimum=0.0)
# Torch CPU threads of each web process (0: torch's default, every core). One is fastest
# when there are as many web processes as cores (annotator/sam2/threads.py).
TORCH_THREADS = env_int("GEOPROMPT_TORCH_THREADS", 1, minimum=0)
# Most clicks one decoder pass of a web process decodes together (annotator/segment/batching.py);
# four times as many may wait, more are refused (503, code busy).
SEGMENT_BATCH_MAX = env_int("GEOPROMPT_SEGMENT_BATCH_MAX", 8, minimum=1)
# The most drafts one segment-everything or find-similar run may make (annotator/drafts/).
DRAFTS_MAX_PER_RUN = env_int("GEOPROMPT_DRAFTS_MAX_PER_RUN", 10_000, minimum=1)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_gis",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "annotator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"
ASGI_APPLICATION = "backend.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("GEOPROMPT_STATIC_ROOT", str(BASE_DIR / "var" / "static")))
STATICFILES_DIRS = [BASE_DIR / "frontend" / "dist"]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# Team set-up in the app: who may create projects (``staff``, or ``any`` signed-in user), and
# how long the one-time links stay valid that owners copy to invite someone to a project
# and staff copy to let someone choose a password (no mail server is needed for either).
PROJECT_CREATORS = env_choice("GEOPROMPT_PROJECT_CREATORS", "staff", ["staff", "any"])
INVITATION_MAX_AGE_DAYS = env_int("GEOPROMPT_INVITATION_MAX_AGE_DAYS", 7, minimum=1)
PASSWORD_LINK_MAX_AGE_DAYS = env_int("GEOPROMPT_PASSWORD_LINK_MAX_AGE_DAYS", 3, minimum=1)
PASSWORD_RESET_TIMEOUT = PASSWORD_LINK_MAX_AGE_DAYS * 24 * 3600  # Django's password-link tokens, seconds

# Uploads larger than this go to a temporary file, never to memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024**2
FILE_UPLOAD_TEMP_DIR = TEMP_DIR
FILE_UPLOAD_HANDLERS = ["annotator.imagery.uploads.SizeLimitedUploadHandler"]

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the page's JavaScript sends it back in X-CSRFToken
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that anonymous callers get 401 with a WWW-Authenticate header.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "annotator.api.base.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "annotator.api.schema.GeopromptAutoSchema",  # error responses in one place
    "EXCEPTION_HANDLER": "annotator.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Geoprompt API",
    "DESCRIPTION": "Annotation of georeferenced imagery with SAM2. Geometries are GeoJSON in EPSG:4326.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed package, not a CDN: the app must work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for the role choices, whichever serializer field they appear in.
    "ENUM_NAME_OVERRIDES": {"RoleEnum": "annotator.choices.Role"},
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None  # job state lives in Job rows, never in the broker
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# No CELERY_TASK_ROUTES: each job is sent to its runner's queue (annotator/jobs/registry.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("GEOPROMPT_TASK_VISIBILITY_S", 3600, minimum=1)}
CELERY_TASK_ALWAYS_EAGER = env_bool("GEOPROMPT_CELERY_EAGER", False)

# Liveness of running jobs (annotator/jobs/liveness.py): the worker running a job stamps
# its row every JOB_HEARTBEAT_S seconds; every worker puts a running job whose stamp is
# older than JOB_STALE_S back in the queue (its worker was killed), and fails it with a
# message once it has been started JOB_MAX_ATTEMPTS times.
JOB_HEARTBEAT_S = env_int("GEOPROMPT_JOB_HEARTBEAT_S", 10, minimum=1)
JOB_STALE_S = env_int("GEOPROMPT_JOB_STALE_S", 60, minimum=2)
JOB_MAX_ATTEMPTS = env_int("GEOPROMPT_JOB_MAX_ATTEMPTS", 3, minimum=1)
if JOB_STALE_S < 2 * JOB_HEARTBEAT_S:
    raise ImproperlyConfigured(
        f"GEOPROMPT_JOB_STALE_S ({JOB_STALE_S}) must be at least twice GEOPROMPT_JOB_HEARTBEAT_S ({JOB_HEARTBEAT_S}),"
        " or a job that is running well would be taken for one whose worker died."
    )

# GDAL < 3.9 cannot block file and network access from spatial references; Geoprompt only
# builds spatial references from EPSG codes and from rasters it has already vetted
# (GTiff driver only, no sidecar files), so the start-up warning is noise here.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

LOG_LEVEL = env_choice("GEOPROMPT_LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
