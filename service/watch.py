"""Live events of a tenant's streams for observers (the dashboard): ``WebSocket /v1/watch``.

A stream's handler publishes what happens to it -- opened and closed, samples (decimated for display), results
(label, scores and the embedding's 2-D projection), progress counters -- and every observer of the same tenant
receives them as JSON text messages. Observers never slow a stream: each has a bounded queue, and when an
observer falls behind its oldest events are dropped (and counted in ``dropped`` and in the metrics). Events
exist only for display; the stream's own results, acknowledgements and persisted samples do not depend on them.

The 2-D projection is the plane of the two main axes of the tenant's gesture prototypes (the pose embeddings
of its vocabulary, :meth:`biosig.zeroshot.ZeroShotHead.prototypes`), so the gestures appear as fixed anchors
and a stream's embeddings trace a path between them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DISPLAY_RATE_HZ", "Projection", "WatchHub", "Watcher", "display_samples"]

log = logging.getLogger(__name__)

#: Samples per second and channel sent to observers at most (plenty for a trace on a screen).
DISPLAY_RATE_HZ = 250.0


def display_samples(samples: np.ndarray, sfreq: float, first_sample: int) -> tuple[int, float, np.ndarray]:
    """Keep every ``step``-th sample on the absolute sample grid, so frames of any size decimate alike.

    Returns the index of the first kept sample, the display rate and the ``(n_channels, m)`` kept samples.
    """
    step = max(1, math.ceil(sfreq / DISPLAY_RATE_HZ))
    offset = (-first_sample) % step
    kept = samples[:, offset::step]
    return first_sample + offset, sfreq / step, kept


@dataclass(frozen=True)
class Projection:
    """A 2-D view of embeddings: ``xy = (l2norm(e) - mean) @ basis.T``, with the gestures' anchors."""

    version: int
    names: list[str]
    mean: np.ndarray  # (D,)
    basis: np.ndarray  # (2, D)
    anchors: np.ndarray  # (G, 2)

    @classmethod
    def from_prototypes(cls, version: int, names: list[str], prototypes: np.ndarray) -> Projection:
        mean = prototypes.mean(axis=0)
        centred = prototypes - mean
        if len(names) >= 3:
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            basis = vt[:2]
        else:  # one or two gestures: the line through them and any orthogonal direction
            d = prototypes.shape[1]
            first = centred[0] / (np.linalg.norm(centred[0]) or 1.0) if len(names) == 2 else np.eye(d)[0]
            other = np.eye(d)[1] - first * first[1]
            basis = np.stack([first, other / (np.linalg.norm(other) or 1.0)])
        return cls(version, names, mean, basis.astype(np.float32), (centred @ basis.T).astype(np.float32))

    def project(self, embedding: np.ndarray) -> list[float]:
        e = np.asarray(embedding, dtype=np.float32)
        e = e / max(float(np.linalg.norm(e)), 1e-12)
        return [round(float(v), 4) for v in (e - self.mean) @ self.basis.T]

    def to_event(self) -> dict[str, Any]:
        return {
            "type": "projection",
            "version": self.version,
            "gestures": {n: [round(float(x), 4), round(float(y), 4)] for n, (x, y) in zip(self.names, self.anchors)},
        }


class Watcher:
    """One observer's queue of JSON texts; the oldest are dropped when it is full."""

    def __init__(self, tenant: str, max_queue: int) -> None:
        self.tenant = tenant
        self.queue: deque[str] = deque()
        self.max_queue = max_queue
        self.dropped = 0
        self.event = asyncio.Event()

    def offer(self, text: str) -> None:
        self.queue.append(text)
        if len(self.queue) > self.max_queue:
            self.queue.popleft()
            self.dropped += 1
        self.event.set()

    async def next(self) -> str:
        while not self.queue:
            self.event.clear()
            await self.event.wait()
        return self.queue.popleft()


class WatchHub:
    """Observers by tenant; ``publish`` from the event loop, ``publish_threadsafe`` from any thread."""

    def __init__(self, max_queue: int = 512) -> None:
        self.max_queue = max_queue
        self._watchers: dict[str, set[Watcher]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.published = 0

    def subscribe(self, tenant: str) -> Watcher:
        self._loop = asyncio.get_running_loop()
        watcher = Watcher(tenant, self.max_queue)
        with self._lock:
            self._watchers.setdefault(tenant, set()).add(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        with self._lock:
            group = self._watchers.get(watcher.tenant)
            if group is not None:
                group.discard(watcher)
                if not group:
                    del self._watchers[watcher.tenant]

    def watching(self, tenant: str) -> bool:
        """Whether anyone observes ``tenant`` (publishers skip building events otherwise)."""
        return tenant in self._watchers

    def count(self, tenant: str | None = None) -> int:
        with self._lock:
            if tenant is not None:
                return len(self._watchers.get(tenant, ()))
            return sum(len(g) for g in self._watchers.values())

    def publish(self, tenant: str, event: dict[str, Any]) -> None:
        """Send ``event`` to every observer of ``tenant``; call from the event loop's thread."""
        with self._lock:
            group = list(self._watchers.get(tenant, ()))
        if not group:
            return
        text = json.dumps(event, separators=(",", ":"), allow_nan=False)
        for watcher in group:
            watcher.offer(text)
        self.published += 1

    def publish_threadsafe(self, tenant: str, event: dict[str, Any]) -> None:
        """Like :meth:`publish`, from a worker thread (REST routes run in a threadpool)."""
        loop = self._loop
        if loop is None or not self.watching(tenant) or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self.publish, tenant, event)
        except RuntimeError:  # the loop is shutting down
            log.debug("watch: loop closed, event for %s not published", tenant)
