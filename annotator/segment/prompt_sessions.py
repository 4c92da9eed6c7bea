"""Prompt sessions: the previous low-resolution mask logits of a click sequence, in Redis.

A session is a short history of steps. Each step records the prompts sent (in window
pixels, with labels), the window they were decoded in, and the decoder's low-resolution
logits [256, 256] as fp16 bytes. A new request uses, as SAM2's mask input, the logits of
the longest earlier step that it extends (same window and box; that step's positive and
negative points are prefixes of its own): every added click
refines the last result, and resending fewer points reproduces the earlier result
(undo), because that step gets the same mask input it had the first time.
Everything expires after ``settings.SAM2_PROMPT_SESSION_TTL_S`` seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass

import numpy as np
import redis
from django.conf import settings

from annotator.errors import InvalidInput

KEY_PREFIX = "geoprompt:prompt-session"
MAX_STEPS = 32
LOGITS_SHAPE = (256, 256)
_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")

logger = logging.getLogger(__name__)

_client: redis.Redis | None = None
_client_url = ""
_lock = threading.Lock()


def client() -> redis.Redis:
    """A Redis client for ``settings.REDIS_URL`` (one pool per process)."""
    global _client, _client_url
    with _lock:
        if _client is None or _client_url != settings.REDIS_URL:
            # Short timeouts: a click must not hang on an unreachable Redis (see ``available``).
            _client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
            _client_url = settings.REDIS_URL
        return _client


def new_session_id() -> str:
    return uuid.uuid4().hex


def check_session_id(session_id: str | None) -> str:
    """The given id (32 lowercase hex characters), or a new one when None."""
    if session_id is None or session_id == "":
        return new_session_id()
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise InvalidInput("session_id must be 32 hexadecimal characters, as returned earlier.", field="session_id")
    return session_id


@dataclass(frozen=True)
class Step:
    """One decoded request: prompts in window pixels ``[[x, y, label], ...]`` (box corners label 2/3)."""

    window: str
    prompts: tuple[tuple[float, float, int], ...]

    @property
    def digest(self) -> str:
        text = json.dumps([self.window, [list(p) for p in self.prompts]])
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def by_label(self, label: int) -> tuple[tuple[float, float, int], ...]:
        return tuple(p for p in self.prompts if p[2] == label)

    def extends(self, earlier: Step) -> bool:
        """Whether this step adds prompts to ``earlier`` in the same window.

        For each kind (positive, negative, box corners), ``earlier``'s prompts must be a
        prefix of this step's, and this step must have more prompts in all.
        """
        if earlier.window != self.window or len(earlier.prompts) >= len(self.prompts):
            return False
        for label in (0, 1, 2, 3):
            mine, theirs = self.by_label(label), earlier.by_label(label)
            if label >= 2 and mine != theirs:
                return False
            if mine[: len(theirs)] != theirs:
                return False
        return True


def _meta_key(session_id: str) -> str:
    return f"{KEY_PREFIX}:{session_id}"


def _logits_key(session_id: str, digest: str) -> str:
    return f"{KEY_PREFIX}:{session_id}:{digest}"


def previous_logits(session_id: str, step: Step) -> np.ndarray | None:
    """The mask input for ``step``: float32 [1, 256, 256] logits of its longest stored prefix, or None.

    None too when Redis cannot be reached: the click is then decoded from its prompts alone
    (as a first click is), rather than failing.
    """
    try:
        return _previous_logits(session_id, step)
    except redis.exceptions.RedisError as exc:
        logger.warning("prompt session %s unavailable, decoding without the previous mask: %s", session_id, exc)
        return None


def _previous_logits(session_id: str, step: Step) -> np.ndarray | None:
    raw = client().get(_meta_key(session_id))
    if raw is None:
        return None
    steps = [Step(s["window"], tuple(tuple(p) for p in s["prompts"])) for s in json.loads(raw)]
    candidates = [s for s in steps if step.extends(s)]
    if not candidates:
        return None
    best = max(candidates, key=lambda s: len(s.prompts))
    data = client().get(_logits_key(session_id, best.digest))
    if data is None:
        return None
    return np.frombuffer(data, dtype=np.float16).astype(np.float32).reshape(1, *LOGITS_SHAPE)


def _figures_key(session_id: str) -> str:
    return f"{KEY_PREFIX}:{session_id}:figures"


def record(session_id: str, step: Step, logits: np.ndarray, figures: dict | None = None) -> bool:
    """Store ``step`` with its low-resolution logits [256, 256]; steps it does not extend are dropped.

    ``figures`` (a small JSON object: the mask's SAM2 figures, image and user) replace the
    session's last ones: what saving this session's result attaches (:func:`last_figures`).
    Returns False, having stored nothing, when Redis cannot be reached.
    """
    try:
        _record(session_id, step, logits, figures)
    except redis.exceptions.RedisError as exc:
        logger.warning("prompt session %s not saved: %s", session_id, exc)
        return False
    return True


def last_figures(session_id: str) -> dict | None:
    """The figures recorded with the session's last result, or None (none, expired, Redis down)."""
    try:
        raw = client().get(_figures_key(check_session_id(session_id)))
    except redis.exceptions.RedisError as exc:
        logger.warning("prompt session %s unavailable, saving without its figures: %s", session_id, exc)
        return None
    return None if raw is None else json.loads(raw)


def _record(session_id: str, step: Step, logits: np.ndarray, figures: dict | None = None) -> None:
    r = client()
    ttl = settings.SAM2_PROMPT_SESSION_TTL_S
    raw = r.get(_meta_key(session_id))
    steps = [] if raw is None else [Step(s["window"], tuple(tuple(p) for p in s["prompts"])) for s in json.loads(raw)]
    kept = [*[s for s in steps if step.extends(s)][-(MAX_STEPS - 1) :], step]
    dropped = [s for s in steps if s not in kept]
    payload = json.dumps([{"window": s.window, "prompts": [list(p) for p in s.prompts]} for s in kept])
    pipe = r.pipeline()
    pipe.set(_logits_key(session_id, step.digest), np.asarray(logits, dtype=np.float16).tobytes(), ex=ttl)
    pipe.set(_meta_key(session_id), payload, ex=ttl)
    if figures is not None:
        pipe.set(_figures_key(session_id), json.dumps(figures), ex=ttl)
    for s in kept:
        pipe.expire(_logits_key(session_id, s.digest), ttl)
    for s in dropped:
        pipe.delete(_logits_key(session_id, s.digest))
    pipe.execute()
