"""Gesture vocabularies: named pose references that a zero-shot head embeds with a pose encoder.

A gesture is named by what the hand does, not by EMG: a static pose (one joint-angle vector) or a short
trajectory, in radians and in the joint order of :mod:`biosig.signals.pose` (the 20 finger angles of
emg2pose, optionally followed by the 3 wrist DOFs). Because the reference is a pose, a user can add a gesture
no model was trained on by giving its pose, and the head labels EMG with it through the shared EMG-pose space.

:meth:`PoseReference.windows` renders a reference into the windows a pose encoder takes (:class:`PoseSpec`):
a static pose is held for the whole window; a trajectory is resampled to the encoder's frame rate and cut into
windows. Variants with small joint-angle jitter give a retrieval bank several neighbours per gesture (a person
never holds a pose exactly), which top-k voting needs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from biosig.signals.pose import HAND_JOINTS, N_FINGER_JOINTS, N_HAND_JOINTS, WRIST_JOINTS

__all__ = ["MYO_GESTURES", "GestureVocabulary", "PoseReference", "PoseSpec", "VocabularyError"]

#: Myo readings dataset label -> the built-in gesture with that movement (biosig.io.myo.LABEL_NAMES order).
MYO_GESTURES: dict[int, str] = {
    0: "rest",
    1: "wrist_flexion",
    2: "wrist_extension",
    3: "radial_deviation",
    4: "ulnar_deviation",
    5: "pronation",
    6: "supination",
    7: "fist",
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,47}$")
#: Slack on the anatomical joint limits: references come from people and tools, not from the generator.
_LIMIT_SLACK_RAD = 0.15
_MAX_FRAMES = 10_000


class VocabularyError(ValueError):
    """A pose reference or vocabulary operation that cannot be accepted; the message says why."""


def _joint_limits() -> tuple[np.ndarray, np.ndarray]:
    from biosig.synth.hand.kinematics import LOWER, UPPER  # the anatomical limits the generator uses

    return LOWER, UPPER


@dataclass(frozen=True)
class PoseSpec:
    """The pose windows an encoder takes: ``(n_dof, n_frames)`` radians at ``frame_rate`` Hz."""

    n_dof: int
    n_frames: int
    frame_rate: float

    def __post_init__(self) -> None:
        if self.n_dof not in (N_FINGER_JOINTS, N_HAND_JOINTS):
            raise VocabularyError(
                f"n_dof must be {N_FINGER_JOINTS} (finger joints) or {N_HAND_JOINTS} (with wrist), got {self.n_dof}"
            )
        if isinstance(self.n_frames, bool) or not isinstance(self.n_frames, int) or self.n_frames < 1:
            raise VocabularyError(f"n_frames must be a positive int, got {self.n_frames!r}")
        if not (isinstance(self.frame_rate, int | float) and math.isfinite(self.frame_rate) and self.frame_rate > 0):
            raise VocabularyError(f"frame_rate must be a positive number of Hz, got {self.frame_rate!r}")
        object.__setattr__(self, "frame_rate", float(self.frame_rate))

    @property
    def window_s(self) -> float:
        return self.n_frames / self.frame_rate

    @property
    def joints(self) -> tuple[str, ...]:
        return HAND_JOINTS[: self.n_dof]

    def to_dict(self) -> dict[str, Any]:
        return {"n_dof": self.n_dof, "n_frames": self.n_frames, "frame_rate": self.frame_rate}


@dataclass(frozen=True, eq=False)
class PoseReference:
    """A named gesture given by its pose.

    Parameters
    ----------
    name
        Label, ``snake_case`` (lower-case letters, digits, underscores; at most 48 characters).
    pose
        ``(n_dof,)`` static pose or ``(n_dof, n_frames)`` trajectory, radians, HAND_JOINTS order; ``n_dof`` is
        20 (finger joints; the wrist is neutral) or 23 (with wrist flexion, deviation, rotation).
    frame_rate
        Frame rate of a trajectory in Hz; must be None for a static pose.
    description
        One line for people.
    origin
        ``"builtin"`` or ``"user"``.
    """

    name: str
    pose: np.ndarray
    frame_rate: float | None = None
    description: str = ""
    origin: str = "user"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise VocabularyError(
                f"gesture name must be snake_case (a-z, 0-9, _; starting with a letter or digit; at most 48 "
                f"characters), got {self.name!r}"
            )
        if self.origin not in ("builtin", "user"):
            raise VocabularyError(f"origin must be 'builtin' or 'user', got {self.origin!r}")
        try:
            pose = np.array(self.pose, dtype=np.float64)
        except (TypeError, ValueError):
            raise VocabularyError(
                f"gesture {self.name!r}: pose must be numbers, got {type(self.pose).__name__}"
            ) from None
        if pose.ndim not in (1, 2) or pose.shape[0] not in (N_FINGER_JOINTS, N_HAND_JOINTS):
            raise VocabularyError(
                f"gesture {self.name!r}: pose must have shape (n_dof,) or (n_dof, n_frames) with n_dof "
                f"{N_FINGER_JOINTS} or {N_HAND_JOINTS} (joint order: biosig.signals.pose.HAND_JOINTS), "
                f"got shape {pose.shape}"
            )
        if pose.ndim == 2 and not 1 <= pose.shape[1] <= _MAX_FRAMES:
            raise VocabularyError(
                f"gesture {self.name!r}: a trajectory has 1-{_MAX_FRAMES} frames, got {pose.shape[1]}"
            )
        if not np.all(np.isfinite(pose)):
            raise VocabularyError(f"gesture {self.name!r}: pose contains NaN or infinite angles")
        lower, upper = _joint_limits()
        n_dof = pose.shape[0]
        frames = pose if pose.ndim == 2 else pose[:, None]
        outside = np.flatnonzero(
            np.any(
                (frames < lower[:n_dof, None] - _LIMIT_SLACK_RAD) | (frames > upper[:n_dof, None] + _LIMIT_SLACK_RAD),
                axis=1,
            )
        )
        if outside.size:
            joints = [HAND_JOINTS[i] for i in outside]
            hint = " (angles are radians; these look like degrees)" if np.abs(frames).max() > 2 * math.pi else ""
            raise VocabularyError(
                f"gesture {self.name!r}: angles outside the anatomical range at {joints}{hint}; "
                f"e.g. {joints[0]} must lie in [{lower[outside[0]]:.2f}, {upper[outside[0]]:.2f}] rad"
            )
        if pose.ndim == 1 or pose.shape[1] == 1:
            if self.frame_rate is not None and pose.ndim == 1:
                raise VocabularyError(
                    f"gesture {self.name!r}: a static pose takes no frame_rate, got {self.frame_rate}"
                )
        elif self.frame_rate is None or not (math.isfinite(self.frame_rate) and self.frame_rate > 0):
            raise VocabularyError(
                f"gesture {self.name!r}: a trajectory of {pose.shape[1]} frames needs frame_rate in Hz, "
                f"got {self.frame_rate!r}"
            )
        pose.setflags(write=False)
        object.__setattr__(self, "pose", pose)
        if self.frame_rate is not None:
            object.__setattr__(self, "frame_rate", float(self.frame_rate))

    @property
    def is_static(self) -> bool:
        return self.pose.ndim == 1 or self.pose.shape[1] == 1

    @property
    def n_dof(self) -> int:
        return int(self.pose.shape[0])

    @property
    def moves_wrist(self) -> bool:
        return self.n_dof == N_HAND_JOINTS and bool(np.any(np.abs(self.pose[N_FINGER_JOINTS:]) > 1e-3))

    def key(self) -> tuple[Any, ...]:
        """Identity of the content (for embedding caches): name, angles, frame rate."""
        return (self.name, self.pose.shape, self.pose.tobytes(), self.frame_rate)

    def windows(
        self,
        spec: PoseSpec,
        n_variants: int = 1,
        jitter_rad: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """``(n_windows, spec.n_dof, spec.n_frames)`` float32 windows of this gesture for a pose encoder.

        A static pose is held for the whole window. A trajectory is resampled (linear interpolation) to
        ``spec.frame_rate``; a shorter one is held at its last frame, a longer one is cut into windows every
        half window. Each of ``n_variants`` copies after the first adds a per-joint offset drawn from
        N(0, ``jitter_rad``²), clipped to the joint limits; the first copy is always exact.
        """
        if spec.n_dof == N_FINGER_JOINTS and self.moves_wrist:
            wrist = self.pose[N_FINGER_JOINTS:].reshape(len(WRIST_JOINTS), -1)  # (3, n_frames)
            moved = [WRIST_JOINTS[i] for i in np.flatnonzero(np.any(np.abs(wrist) > 1e-3, axis=1))]
            raise VocabularyError(
                f"gesture {self.name!r} moves the wrist ({moved}) but the pose encoder sees only the "
                f"{N_FINGER_JOINTS} finger joints; it would be indistinguishable from its finger pose"
            )
        if isinstance(n_variants, bool) or not isinstance(n_variants, int) or n_variants < 1:
            raise VocabularyError(f"n_variants must be a positive int, got {n_variants!r}")
        pose = self.pose if self.pose.ndim == 2 else self.pose[:, None]  # (n_dof, n_src)
        if self.n_dof < spec.n_dof:  # fingers only: the wrist rests at neutral (0 rad)
            pose = np.vstack([pose, np.zeros((spec.n_dof - self.n_dof, pose.shape[1]))])
        pose = pose[: spec.n_dof]
        if self.is_static:
            base = np.repeat(pose[:, :1], spec.n_frames, axis=1)[None]
        else:
            assert self.frame_rate is not None
            n_src = pose.shape[1]
            duration = (n_src - 1) / self.frame_rate
            t_out = np.arange(max(1, int(round(duration * spec.frame_rate)) + 1)) / spec.frame_rate
            t_src = np.arange(n_src) / self.frame_rate
            resampled = np.stack([np.interp(t_out, t_src, row) for row in pose])  # (n_dof, n_out)
            if resampled.shape[1] < spec.n_frames:
                pad = np.repeat(resampled[:, -1:], spec.n_frames - resampled.shape[1], axis=1)
                base = np.concatenate([resampled, pad], axis=1)[None]
            else:
                hop = max(1, spec.n_frames // 2)
                starts = range(0, resampled.shape[1] - spec.n_frames + 1, hop)
                base = np.stack([resampled[:, s : s + spec.n_frames] for s in starts])
        out = np.repeat(base, n_variants, axis=0)  # variants of each base window, base-major
        if n_variants > 1 and jitter_rad > 0:
            rng = rng if rng is not None else np.random.default_rng(0)
            lower, upper = _joint_limits()
            offsets = rng.normal(0.0, jitter_rad, size=(out.shape[0], spec.n_dof, 1))
            offsets[::n_variants] = 0.0  # the first variant of each base window stays exact
            out = np.clip(out + offsets, lower[: spec.n_dof, None], upper[: spec.n_dof, None])
        return out.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pose": self.pose.tolist(),
            "frame_rate": self.frame_rate,
            "description": self.description,
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> PoseReference:
        if not isinstance(obj, Mapping):
            raise VocabularyError(f"a pose reference must be an object, got {type(obj).__name__}")
        extra = sorted(set(obj) - {"name", "pose", "frame_rate", "description", "origin"})
        if extra:
            raise VocabularyError(f"pose reference has unknown field(s) {extra}")
        if "name" not in obj or "pose" not in obj:
            raise VocabularyError("a pose reference needs 'name' and 'pose'")
        return cls(
            name=obj["name"],
            pose=obj["pose"],
            frame_rate=obj.get("frame_rate"),
            description=str(obj.get("description", "")),
            origin=obj.get("origin", "user"),
        )

    def __repr__(self) -> str:
        shape = "static" if self.is_static else f"{self.pose.shape[1]} frames @ {self.frame_rate:g} Hz"
        return f"PoseReference({self.name!r}, {self.n_dof} dof, {shape}, {self.origin})"


class GestureVocabulary:
    """An ordered set of :class:`PoseReference` by name; ``version`` increases with every change."""

    def __init__(self, references: Iterable[PoseReference] = ()) -> None:
        self._refs: dict[str, PoseReference] = {}
        self.version = 0
        for ref in references:
            self.add(ref)

    @classmethod
    def builtin(cls, names: Sequence[str] | None = None) -> GestureVocabulary:
        """The synthetic gesture library's poses (biosig.synth.hand.gestures), all or the ``names`` given."""
        from biosig.synth.hand.gestures import GESTURES, check_gesture_names

        chosen = tuple(GESTURES) if names is None else check_gesture_names(names, "names")
        return cls(
            PoseReference(n, GESTURES[n].target, description=GESTURES[n].description, origin="builtin") for n in chosen
        )

    @classmethod
    def myo(cls) -> GestureVocabulary:
        """The 8 classes of the Myo readings dataset as built-in poses, in label order (:data:`MYO_GESTURES`)."""
        return cls.builtin([MYO_GESTURES[k] for k in sorted(MYO_GESTURES)])

    def add(self, reference: PoseReference, *, replace: bool = False) -> None:
        if not isinstance(reference, PoseReference):
            raise TypeError(f"reference must be a PoseReference, got {type(reference).__name__}")
        if reference.name in self._refs and not replace:
            raise VocabularyError(f"gesture {reference.name!r} is already in the vocabulary; pass replace=True")
        self._refs[reference.name] = reference
        self.version += 1

    def remove(self, name: str) -> PoseReference:
        ref = self.get(name)
        del self._refs[name]
        self.version += 1
        return ref

    def get(self, name: str) -> PoseReference:
        try:
            return self._refs[name]
        except KeyError:
            raise VocabularyError(f"unknown gesture {name!r}; the vocabulary has {self.names}") from None

    @property
    def names(self) -> list[str]:
        return list(self._refs)

    def __contains__(self, name: object) -> bool:
        return name in self._refs

    def __iter__(self) -> Iterator[PoseReference]:
        return iter(list(self._refs.values()))

    def __len__(self) -> int:
        return len(self._refs)

    def copy(self) -> GestureVocabulary:
        return GestureVocabulary(self)

    def to_dict(self) -> dict[str, Any]:
        return {"gestures": [r.to_dict() for r in self]}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> GestureVocabulary:
        if not isinstance(obj, Mapping) or not isinstance(obj.get("gestures"), list):
            raise VocabularyError("a vocabulary is an object with a 'gestures' list")
        return cls(PoseReference.from_dict(g) for g in obj["gestures"])

    def __repr__(self) -> str:
        return f"GestureVocabulary({len(self)} gestures: {', '.join(self.names)})"
