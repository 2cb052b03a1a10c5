"""The gesture library: target poses, the muscle activation pattern that produces each, and default stages.

A gesture is authored as a target pose (23 angles). The activations that hold it are found the way a person
would: the least total effort that reaches the pose, given *this user's* muscles (bounded least squares on
the linear muscle model with a small effort penalty and a resting tone as floor). Because every gesture,
including one never used for training, is a non-negative combination of the same muscles, the EMG and the
pose of an unseen gesture share the latent space of the seen ones, which is what CPEP's zero-shot transfer
relies on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import lsq_linear

from biosig.signals.pose import HAND_JOINTS
from biosig.synth.hand.kinematics import LOWER, REST_POSE, UPPER, equilibrium_pose

_J = {name: i for i, name in enumerate(HAND_JOINTS)}


@dataclass(frozen=True)
class Gesture:
    """A named static hand pose.

    Parameters
    ----------
    name
        Identifier (snake_case), used in labels and metadata.
    description
        One line for people.
    target
        ``(23,)`` joint angles in radians, HAND_JOINTS order, inside the joint limits.
    """

    name: str
    description: str
    target: np.ndarray

    def __post_init__(self) -> None:
        target = np.asarray(self.target, dtype=np.float64)
        if target.shape != (len(HAND_JOINTS),):
            raise ValueError(f"gesture {self.name!r}: target must have shape ({len(HAND_JOINTS)},), got {target.shape}")
        outside = [HAND_JOINTS[i] for i in np.flatnonzero((target < LOWER) | (target > UPPER))]
        if outside:
            raise ValueError(f"gesture {self.name!r}: target outside the joint limits at {outside}")
        target.setflags(write=False)
        object.__setattr__(self, "target", target)


def _pose(**angles: float) -> np.ndarray:
    """REST_POSE with some joints set; keys are HAND_JOINTS names, or a finger name for (MCP, PIP, DIP) FE."""
    pose = REST_POSE.copy()
    for key, value in angles.items():
        if key in ("INDEX", "MIDDLE", "RING", "PINKY"):
            mcp, pip, dip = value  # type: ignore[misc]
            pose[[_J[f"{key}_MCP_FE"], _J[f"{key}_PIP_FE"], _J[f"{key}_DIP_FE"]]] = (mcp, pip, dip)
        elif key == "THUMB":
            pose[[_J["THUMB_CMC_FE"], _J["THUMB_CMC_AA"], _J["THUMB_MCP_FE"], _J["THUMB_IP_FE"]]] = value
        else:
            pose[_J[key]] = value
    return pose


_CURLED = (1.40, 1.60, 0.95)  # a finger closed into the palm
_STRAIGHT = (0.0, 0.05, 0.05)
_THUMB_TUCKED = (0.55, 0.15, 0.75, 0.60)  # thumb across the curled fingers (fist, point, V)

GESTURES: dict[str, Gesture] = {
    g.name: g
    for g in (
        Gesture("rest", "relaxed hand, no intended movement", REST_POSE),
        Gesture("fist", "all fingers closed, thumb over them",
                _pose(INDEX=_CURLED, MIDDLE=_CURLED, RING=_CURLED, PINKY=_CURLED, THUMB=_THUMB_TUCKED)),
        Gesture("open_hand", "fingers extended and spread, thumb abducted",
                _pose(INDEX=_STRAIGHT, MIDDLE=_STRAIGHT, RING=_STRAIGHT, PINKY=_STRAIGHT,
                      INDEX_MCP_AA=0.25, MIDDLE_MCP_AA=0.1, RING_MCP_AA=0.2, PINKY_MCP_AA=0.3,
                      THUMB=(-0.25, 0.85, -0.1, -0.1))),
        Gesture("pinch_index", "thumb tip to index fingertip",
                _pose(INDEX=(0.75, 0.85, 0.45), THUMB=(0.45, 0.45, 0.35, 0.35))),
        Gesture("pinch_middle", "thumb tip to middle fingertip",
                _pose(MIDDLE=(0.85, 0.95, 0.50), THUMB=(0.65, 0.35, 0.45, 0.35))),
        Gesture("pinch_ring", "thumb tip to ring fingertip",
                _pose(RING=(0.95, 1.05, 0.55), THUMB=(0.80, 0.25, 0.55, 0.35))),
        Gesture("point", "index extended, other fingers closed",
                _pose(INDEX=_STRAIGHT, MIDDLE=_CURLED, RING=_CURLED, PINKY=_CURLED, THUMB=_THUMB_TUCKED)),
        Gesture("thumbs_up", "fist with the thumb extended",
                _pose(INDEX=_CURLED, MIDDLE=_CURLED, RING=_CURLED, PINKY=_CURLED, THUMB=(-0.25, 0.50, -0.10, -0.20))),
        Gesture("peace", "index and middle extended and spread (V), others closed",
                _pose(INDEX=_STRAIGHT, MIDDLE=_STRAIGHT, RING=_CURLED, PINKY=_CURLED,
                      INDEX_MCP_AA=0.25, MIDDLE_MCP_AA=0.1, THUMB=_THUMB_TUCKED)),
        Gesture("ok", "thumb and index form a ring, other fingers extended",
                _pose(INDEX=(0.80, 1.00, 0.60), MIDDLE=_STRAIGHT, RING=_STRAIGHT, PINKY=_STRAIGHT,
                      RING_MCP_AA=0.15, PINKY_MCP_AA=0.25, THUMB=(0.45, 0.50, 0.30, 0.40))),
        Gesture("wrist_flexion", "wrist bent toward the palm", _pose(WRIST_FE=0.90)),
        Gesture("wrist_extension", "wrist bent toward the back of the hand", _pose(WRIST_FE=-0.80)),
        Gesture("radial_deviation", "wrist bent toward the thumb", _pose(WRIST_RU=0.28)),
        Gesture("ulnar_deviation", "wrist bent toward the little finger", _pose(WRIST_RU=-0.45)),
        Gesture("pronation", "forearm turned palm down", _pose(WRIST_PS=1.00)),
        Gesture("supination", "forearm turned palm up", _pose(WRIST_PS=-1.00)),
    )
}  # fmt: skip

GESTURE_NAMES: tuple[str, ...] = tuple(GESTURES)

#: Default gesture-prompt stages (emg2pose records ~1 min per stage; a stage repeats a few gestures).
DEFAULT_STAGES: dict[str, tuple[str, ...]] = {
    "HandOpenClose": ("fist", "open_hand"),
    "FingerPinches": ("pinch_index", "pinch_middle", "pinch_ring"),
    "Signs": ("point", "thumbs_up", "peace", "ok"),
    "WristFlexExt": ("wrist_flexion", "wrist_extension"),
    "WristDeviation": ("radial_deviation", "ulnar_deviation"),
    "ForearmRotation": ("pronation", "supination"),
}

#: Weight of each joint in the activation solve: the wrist and the finger flexion angles define a gesture;
#: abduction angles matter less (the interossei are lumped into one group and cannot set each finger alone).
_JOINT_WEIGHT = np.array([0.5 if name.endswith("_AA") else 1.0 for name in HAND_JOINTS])
_EFFORT_PENALTY = 0.01


def check_gesture_names(names: Sequence[str], parameter: str = "gestures") -> tuple[str, ...]:
    """``names`` as a tuple after checking each is in the library; raises ``ValueError`` naming ``parameter``."""
    if isinstance(names, str):
        raise TypeError(f"{parameter} must be a sequence of gesture names, got the string {names!r}")
    names = tuple(names)
    unknown = [n for n in names if n not in GESTURES]
    if unknown:
        raise ValueError(f"{parameter}: unknown gesture(s) {unknown}; known gestures are {list(GESTURE_NAMES)}")
    if not names:
        raise ValueError(f"{parameter} must name at least one gesture, got an empty sequence")
    return names


def solve_activation(target: np.ndarray, gains: np.ndarray, tone: np.ndarray) -> np.ndarray:
    """Least-effort activations in ``[tone, 1]`` whose equilibrium pose is closest to ``target``.

    Parameters
    ----------
    target
        ``(23,)`` joint angles, radians.
    gains
        ``(23, n_muscles)`` gain matrix of the user (radians per unit activation).
    tone
        ``(n_muscles,)`` resting activation floor, in [0, 1).

    Returns
    -------
    ``(n_muscles,)`` activations in [0, 1].
    """
    n = gains.shape[1]
    # Minimise ||W (rest + G a - target)||^2 + lambda ||a||^2 as one stacked linear least-squares problem.
    a_matrix = np.vstack([_JOINT_WEIGHT[:, None] * gains, np.sqrt(_EFFORT_PENALTY) * np.eye(n)])
    b_vector = np.concatenate([_JOINT_WEIGHT * (target - REST_POSE), np.zeros(n)])
    upper = np.maximum(tone + 1e-6, 1.0)
    result = lsq_linear(a_matrix, b_vector, bounds=(tone, upper), method="bvls")
    return np.clip(result.x, tone, 1.0)


def gesture_activations(names: Sequence[str], gains: np.ndarray, tone: np.ndarray) -> dict[str, np.ndarray]:
    """Activation pattern ``(n_muscles,)`` of each named gesture for a user with ``gains`` and ``tone``."""
    return {name: solve_activation(GESTURES[name].target, gains, tone) for name in names}


def reference_poses(names: Sequence[str], gains: np.ndarray, tone: np.ndarray) -> dict[str, np.ndarray]:
    """``(23,)`` pose each gesture's activation pattern actually holds (what the generator produces at rest)."""
    return {name: equilibrium_pose(a, gains) for name, a in gesture_activations(names, gains, tone).items()}


def stages_of(stages: Mapping[str, Sequence[str]] | int | None) -> dict[str, tuple[str, ...]]:
    """Normalise a ``stages`` argument: a mapping name -> gestures, a count of default stages, or ``None`` (all)."""
    if stages is None:
        return dict(DEFAULT_STAGES)
    if isinstance(stages, bool) or not isinstance(stages, (int, Mapping)):
        raise TypeError(f"stages must be a mapping of stage name to gestures or an int, got {type(stages).__name__}")
    if isinstance(stages, int):
        if not 1 <= stages <= len(DEFAULT_STAGES):
            raise ValueError(f"stages must be between 1 and {len(DEFAULT_STAGES)} default stages, got {stages}")
        return dict(list(DEFAULT_STAGES.items())[:stages])
    if not stages:
        raise ValueError("stages must name at least one stage, got an empty mapping")
    return {str(name): check_gesture_names(g, f"stages[{name!r}]") for name, g in stages.items()}
