"""One inference thread for all live streams: windows queued by every stream are embedded in shared batches.

Each stream's handler featurizes its own frames (cheap, in the event loop) and submits the windows a frame
completed as a :class:`WindowJob`. The worker thread takes *everything* queued at that moment, groups windows
that can share an encoder call (same model, shape, channel types and units; :func:`biosig.stream.embed_windows`),
runs one call per group, labels them with the tenant's zero-shot head when asked, and hands each job's outputs
back to its event loop. Nothing waits to fill a batch: under light load a batch is one window (lowest latency);
under heavy load batches grow by themselves, which is where the encoder's throughput is best
(BENCHMARKS.md). onnxruntime releases the GIL while it runs, so the event loop keeps reading frames meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from biosig.stream import FeaturizerConfig, Window, embed_windows
from biosig.zeroshot import GesturePrediction
from service.gestures import GestureService
from service.metrics import Metrics
from service.models import ServedModel

__all__ = ["InferenceEngine", "WindowJob", "WindowOutput"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class WindowOutput:
    window: Window
    embedding: np.ndarray
    prediction: GesturePrediction | None


@dataclass(eq=False)
class WindowJob:
    """Windows of one stream completed by one frame, and where their outputs go."""

    model: ServedModel
    config: FeaturizerConfig
    windows: list[Window]
    t_recv: float  # time.perf_counter() at receipt of the frame that completed the windows
    labels: bool
    tenant: str
    user: str | None
    loop: asyncio.AbstractEventLoop
    deliver: Callable[[WindowJob, list[WindowOutput] | BaseException], None]


def _deliver_all(items: list[tuple[WindowJob, list[WindowOutput] | BaseException]]) -> None:
    for job, out in items:
        job.deliver(job, out)


class InferenceEngine:
    """The worker thread; :meth:`submit` may be called from any thread."""

    def __init__(self, gestures: GestureService, metrics: Metrics, max_batch: int = 256) -> None:
        self.gestures = gestures
        self.metrics = metrics
        self.max_batch = max_batch
        self._jobs: deque[WindowJob] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="biosig-inference", daemon=True)
        self.n_batches = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, job: WindowJob) -> None:
        with self._cond:
            self._jobs.append(job)
            self.metrics.inference_queue.inc(len(job.windows))
            self._cond.notify()

    def _take(self) -> list[WindowJob] | None:
        with self._cond:
            while not self._jobs and not self._stop:
                self._cond.wait()
            if self._stop:
                return None
            jobs = list(self._jobs)
            self._jobs.clear()
        self.metrics.inference_queue.dec(sum(len(j.windows) for j in jobs))
        return jobs

    def _run(self) -> None:
        while True:
            jobs = self._take()
            if jobs is None:
                return
            by_model: dict[int, list[WindowJob]] = {}
            for job in jobs:
                by_model.setdefault(id(job.model), []).append(job)
            ready: dict[asyncio.AbstractEventLoop, list[tuple[WindowJob, list[WindowOutput] | BaseException]]] = {}
            for group in by_model.values():
                outputs: list[list[WindowOutput] | BaseException]
                try:
                    outputs = list(self._infer(group))
                except Exception as exc:  # a failed batch must not kill the worker; its streams get the error
                    log.exception("inference failed for %d job(s) of %s", len(group), group[0].model.name)
                    outputs = [exc] * len(group)
                for job, out in zip(group, outputs):
                    ready.setdefault(job.loop, []).append((job, out))
            for loop, items in ready.items():  # one wake-up of each event loop per batch, not one per stream
                loop.call_soon_threadsafe(_deliver_all, items)

    def _infer(self, jobs: list[WindowJob]) -> list[list[WindowOutput]]:
        model = jobs[0].model
        windows = [w for j in jobs for w in j.windows]
        configs = [j.config for j in jobs for _ in j.windows]
        t0 = time.perf_counter()
        embedded = embed_windows(model.encoder, windows, configs, self.max_batch)
        embeddings = np.stack([e.embedding for e in embedded])  # (n, D), in window order
        predictions: list[GesturePrediction | None] = [None] * len(windows)
        offsets = np.cumsum([0] + [len(j.windows) for j in jobs])
        wanted: dict[tuple[str, str | None], list[int]] = {}
        for i, job in enumerate(jobs):
            if job.labels and model.kind == "gesture":
                wanted.setdefault((job.tenant, job.user), []).extend(range(offsets[i], offsets[i + 1]))
        for (tenant, user), idx in wanted.items():
            for i, p in zip(idx, self.gestures.classify(tenant, embeddings[idx], user)):
                predictions[i] = p
        self.n_batches += 1
        self.metrics.inference_batch.labels(model.name).observe(len(windows))
        self.metrics.inference_seconds.labels(model.name).observe(time.perf_counter() - t0)
        return [
            [WindowOutput(windows[k], embeddings[k], predictions[k]) for k in range(offsets[i], offsets[i + 1])]
            for i in range(len(jobs))
        ]
