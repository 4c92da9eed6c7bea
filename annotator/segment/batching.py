"""One decoder pass at a time per web process, with the clicks that arrive meanwhile decoded together.

A web process serves clicks from several request threads, and runs torch on one thread
(:mod:`annotator.sam2.threads`). Decoded side by side, concurrent clicks would share that
core's cache and time slices; here they queue instead, and whoever finds the decoder idle
decodes the queue's head together with every queued click of the same kind (same model,
same number of prompt tokens, same mask mode) in one batched pass
(:func:`annotator.sam2.decoder.decode_windows`: one batch dimension over the windows, of
the same or different images). Nothing waits for company: a lone click is decoded at
once, and batches form only from clicks that arrived while the decoder was busy, so a
click waits at most for the pass in progress and its own.

Bounded: at most ``max_batch`` clicks per pass, and at most ``max_queue`` waiting; a click
beyond that is refused at once (:class:`~annotator.errors.DecoderBusy`, 503) rather than
queued behind work it would time out on.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

import torch
from django.conf import settings
from torch import nn

from annotator.errors import DecoderBusy
from annotator.sam2 import decoder
from annotator.sam2.features import WindowFeatures


@dataclass(eq=False)
class _Click:
    """One click's decoder inputs, and its result once decoded."""

    model: nn.Module
    window: WindowFeatures
    sparse: torch.Tensor  # [1, T, 256]
    dense: torch.Tensor  # [1, 256, 64, 64]
    multimask: bool
    result: tuple[torch.Tensor, torch.Tensor] | None = None
    error: BaseException | None = None
    done: bool = False
    batch_size: int = field(default=0)

    @property
    def kind(self) -> tuple[int, int, bool]:
        return id(self.model), self.sparse.shape[1], self.multimask


class DecoderBatcher:
    """Queues a process's decoder calls and runs them in batches of up to ``max_batch``, one pass at a time."""

    def __init__(self, max_batch: int, max_queue: int):
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._queue: deque[_Click] = deque()
        self._busy = False
        self._changed = threading.Condition()

    def decode(
        self,
        model: nn.Module,
        window: WindowFeatures,
        sparse: torch.Tensor,
        dense: torch.Tensor,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Low-resolution logits [C, 256, 256], IoU scores [C] and the size of the batch it was decoded in.

        Args as :func:`annotator.sam2.decoder.decode` for one window (batch dimension 1).
        """
        click = _Click(model, window, sparse, dense, multimask)
        with self._changed:
            if len(self._queue) >= self.max_queue:
                raise DecoderBusy("The server is decoding too many clicks at once; try again in a moment.")
            self._queue.append(click)
            while not click.done:
                if self._busy:
                    self._changed.wait()
                    continue
                batch = self._take_batch()
                self._busy = True
                self._changed.release()
                try:
                    self._run(batch)
                finally:
                    self._changed.acquire()
                    self._busy = False
                    self._changed.notify_all()
        if click.error is not None:
            raise click.error
        low_res, scores = click.result
        return low_res, scores, click.batch_size

    def _take_batch(self) -> list[_Click]:
        """The queue's head and the queued clicks of its kind, oldest first (called with the lock held)."""
        kind = self._queue[0].kind
        batch = [c for c in self._queue if c.kind == kind][: self.max_batch]
        for click in batch:
            self._queue.remove(click)
        return batch

    @staticmethod
    def _run(batch: list[_Click]) -> None:
        first = batch[0]
        try:
            masks, scores = decoder.decode_windows(
                first.model,
                [c.window for c in batch],
                torch.cat([c.sparse for c in batch]),
                [c.dense for c in batch],
                first.multimask,
            )
        except BaseException as exc:  # every click of the pass gets the error, and the server goes on
            for click in batch:
                click.error, click.done = exc, True
            return
        for i, click in enumerate(batch):
            click.result, click.batch_size, click.done = (masks[i], scores[i]), len(batch), True


_batcher: DecoderBatcher | None = None
_batcher_lock = threading.Lock()


def decoder_batcher() -> DecoderBatcher:
    """This process's batcher, sized by ``GEOPROMPT_SEGMENT_BATCH_MAX`` (and a queue of 4 batches)."""
    global _batcher
    with _batcher_lock:
        if _batcher is None:
            size = settings.SEGMENT_BATCH_MAX
            _batcher = DecoderBatcher(size, 4 * size)
        return _batcher
