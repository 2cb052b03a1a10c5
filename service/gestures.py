"""Zero-shot gesture labels per tenant: each tenant's vocabulary and few-shot examples, over the gesture model.

Every tenant starts from the gesture model's vocabulary (``settings.gesture_vocabulary``) and may add gestures by pose
reference, delete them, and add few-shot EMG examples per user. Changes are written to the metadata database
(vocabulary as :meth:`biosig.zeroshot.GestureVocabulary.to_dict`, examples as float32 embeddings) and replayed
into a tenant's :class:`biosig.zeroshot.ZeroShotHead` when it is first needed after a restart.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from biosig.zeroshot import GesturePrediction, GestureVocabulary, PoseReference, ZeroShotHead
from service.db import Database
from service.models import GestureModel
from service.settings import ServiceSettings
from service.watch import Projection

__all__ = ["DEFAULT_USER", "GestureService", "GesturesUnavailable"]

#: The user of streams and requests that name none: their few-shot examples are the tenant's shared ones.
DEFAULT_USER = "default"

log = logging.getLogger(__name__)


class GesturesUnavailable(RuntimeError):
    """No gesture model is loaded (answered with 503)."""


class GestureService:
    """Vocabularies and heads of all tenants; thread-safe (routes run in the threadpool, streams in a worker)."""

    def __init__(self, model: GestureModel | None, db: Database, settings: ServiceSettings) -> None:
        self.model = model
        self.db = db
        self.settings = settings
        self._lock = threading.Lock()
        self._tenant_locks: dict[str, threading.RLock] = {}
        self._heads: dict[str, ZeroShotHead] = {}
        self._projections: dict[str, Projection] = {}

    @property
    def available(self) -> bool:
        return self.model is not None

    def require(self) -> GestureModel:
        if self.model is None:
            raise GesturesUnavailable(
                "no gesture model is loaded: start the service with gesture_emg_model and gesture_pose_factory "
                "(BIOSIG_SERVICE_GESTURE_EMG_MODEL, BIOSIG_SERVICE_GESTURE_POSE_FACTORY) to get gesture labels"
            )
        return self.model

    def _tenant_lock(self, tenant: str) -> threading.RLock:
        with self._lock:
            return self._tenant_locks.setdefault(tenant, threading.RLock())

    def _default_vocabulary(self) -> GestureVocabulary:
        choice = self.settings.gesture_vocabulary
        if choice == "myo":
            return GestureVocabulary.myo()
        if choice == "model" and self.model is not None and self.model.vocabulary is not None:
            return self.model.vocabulary.copy()
        return GestureVocabulary.builtin()

    def head(self, tenant: str) -> ZeroShotHead:
        model = self.require()
        with self._tenant_lock(tenant):
            head = self._heads.get(tenant)
            if head is None:
                stored = self.db.get_vocabulary(tenant)
                vocab = GestureVocabulary.from_dict(stored) if stored is not None else self._default_vocabulary()
                head = ZeroShotHead(
                    model.pose,
                    vocab,
                    mode=self.settings.gesture_mode,
                    k=self.settings.gesture_k,
                    unknown_threshold=self.settings.gesture_unknown_threshold,
                )
                for user, gesture, emb in self.db.list_examples(tenant):
                    if gesture in vocab and emb.shape[1] == head.embed_dim:
                        head.add_examples(user, gesture, emb)
                self._heads[tenant] = head
            return head

    def vocabulary(self, tenant: str) -> tuple[GestureVocabulary, ZeroShotHead]:
        head = self.head(tenant)
        return head.vocabulary, head

    def add_gesture(self, tenant: str, reference: PoseReference, replace: bool = False) -> None:
        with self._tenant_lock(tenant):
            head = self.head(tenant)
            head.vocabulary.add(reference, replace=replace)
            try:
                head.refresh()  # embeds the new pose now: a pose the encoder cannot take fails here, not later
            except Exception:
                head.vocabulary.remove(reference.name)
                raise
            self.db.put_vocabulary(tenant, head.vocabulary.to_dict())

    def remove_gesture(self, tenant: str, name: str) -> PoseReference:
        with self._tenant_lock(tenant):
            head = self.head(tenant)
            if len(head.vocabulary) == 1 and name in head.vocabulary:
                raise ValueError(f"cannot delete {name!r}: it is the vocabulary's last gesture")
            users = {u for u, g, _ in self.db.list_examples(tenant) if g == name}
            ref = head.vocabulary.remove(name)
            for user in users:  # examples of a deleted gesture go with it
                head.clear_examples(user, name)
            self.db.delete_examples(tenant, name)
            self.db.put_vocabulary(tenant, head.vocabulary.to_dict())
            return ref

    def add_examples(self, tenant: str, user: str, gesture: str, embeddings: np.ndarray) -> int:
        with self._tenant_lock(tenant):
            head = self.head(tenant)
            count = head.add_examples(user, gesture, embeddings)
            self.db.add_examples(tenant, user, gesture, embeddings)
            return count

    def classify(self, tenant: str, embeddings: np.ndarray, user: str | None = None) -> list[GesturePrediction]:
        with self._tenant_lock(tenant):
            return self.head(tenant).classify(embeddings, user=user or DEFAULT_USER)

    def projection(self, tenant: str) -> Projection | None:
        """The tenant's 2-D view of embeddings (see :mod:`service.watch`); None without a gesture model."""
        if self.model is None:
            return None
        with self._tenant_lock(tenant):
            head = self.head(tenant)
            cached = self._projections.get(tenant)
            if cached is None or cached.version != head.vocabulary.version:
                names, protos = head.prototypes()
                cached = Projection.from_prototypes(head.vocabulary.version, names, protos)
                self._projections[tenant] = cached
            return cached
