"""Forearm muscles that move the hand: where they lie under the band and which joints they turn.

Each entry is one muscle compartment (a slip of a multi-tendon muscle such as FDS, or a whole muscle), with

- its angular position around the forearm cross-section under the band (degrees; 0 = dorsal midline,
  90 = radial side, 180 = volar midline, 270 = ulnar side, seen from the hand of a right arm, palm down),
- its depth below the skin (0 = just under the fascia, 1 = on the interosseous membrane), which both weakens
  and spreads its signal at the skin (volume conduction),
- its longitudinal centre relative to the band (cm, + = distal), so a band shifted along the arm sees a
  different mix of muscle bellies,
- its angular territory width (degrees), over which its motor units are spread,
- the RMS surface EMG it produces at full activation right above it, and
- its *gains*: the change of each of the 23 joint angles (radians) that full activation of this muscle alone
  produces against the passive stiffness of the hand. This lumps moment arm x maximal force / joint stiffness
  into one number; signs follow :mod:`biosig.signals.pose` (flexion, radial deviation, pronation and finger
  abduction positive).

Positions and actions follow standard anatomy texts and forearm cross-sections to the precision that matters
here: which side of the arm a muscle lies on and which joints it flexes or extends. The numbers are not measured; they are chosen so that every gesture of the library can be reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from biosig.signals.pose import HAND_JOINTS


@dataclass(frozen=True)
class Muscle:
    """One muscle compartment; see the module docstring for the meaning and units of each field."""

    name: str
    group: str
    angle_deg: float
    depth: float
    z_cm: float
    width_deg: float
    max_emg_v: float
    gains: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.gains) - set(HAND_JOINTS))
        if unknown:
            raise ValueError(f"muscle {self.name!r} acts on unknown joints {unknown}; joints are {list(HAND_JOINTS)}")
        if not 0.0 <= self.depth <= 1.0:
            raise ValueError(f"muscle {self.name!r}: depth must be in [0, 1], got {self.depth}")
        object.__setattr__(self, "gains", MappingProxyType(dict(self.gains)))


def _finger(finger: str, mcp: float, pip: float, dip: float, aa: float = 0.0) -> dict[str, float]:
    gains = {f"{finger}_MCP_FE": mcp, f"{finger}_PIP_FE": pip, f"{finger}_DIP_FE": dip}
    if aa:
        gains[f"{finger}_MCP_AA"] = aa
    return gains


def _merge(*parts: Mapping[str, float]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for part in parts:
        merged.update(part)
    return merged


# Extrinsic flexors flex the wrist a little too, extensors extend it: their tendons cross the wrist volar
# or dorsal of its axis. FDS acts mostly on MCP+PIP, FDP on all three finger joints.
MUSCLES: tuple[Muscle, ...] = (
    # -- extensors (dorsal) ---------------------------------------------------------------------------------
    Muscle("EDC_IM", "EDC", 350, 0.15, 0.0, 18, 400e-6,
           _merge(_finger("INDEX", -1.2, -0.9, -0.6, 0.1), _finger("MIDDLE", -1.2, -0.9, -0.6, 0.05),
                  {"WRIST_FE": -0.15})),
    Muscle("EDC_RP", "EDC", 325, 0.15, 0.0, 18, 400e-6,
           _merge(_finger("RING", -1.2, -0.9, -0.6, 0.1), _finger("PINKY", -1.1, -0.9, -0.6, 0.1),
                  {"WRIST_FE": -0.15})),
    Muscle("EIP", "EIP", 15, 0.5, 2.0, 10, 250e-6, _finger("INDEX", -1.1, -0.8, -0.6, -0.05)),
    Muscle("EDM", "EDM", 300, 0.25, 0.0, 10, 250e-6, _finger("PINKY", -1.1, -0.8, -0.6, 0.1)),
    Muscle("ECU", "ECU", 275, 0.15, -1.0, 14, 450e-6, {"WRIST_FE": -0.5, "WRIST_RU": -1.0}),
    Muscle("ECR", "ECR", 65, 0.2, -2.0, 20, 500e-6, {"WRIST_FE": -1.3, "WRIST_RU": 0.55}),
    Muscle("APL_EPB", "APL_EPB", 40, 0.35, 2.0, 12, 300e-6,
           {"THUMB_CMC_AA": 1.0, "THUMB_CMC_FE": -0.6, "THUMB_MCP_FE": -0.6, "WRIST_RU": 0.2}),
    Muscle("EPL", "EPL", 25, 0.55, 1.0, 10, 250e-6,
           {"THUMB_IP_FE": -1.2, "THUMB_MCP_FE": -0.8, "THUMB_CMC_FE": -0.5, "THUMB_CMC_AA": -0.3}),
    Muscle("SUP", "SUP", 85, 0.7, -6.0, 14, 350e-6, {"WRIST_PS": -1.6}),
    # -- flexors and pronator (volar) ---------------------------------------------------------------------
    Muscle("PT", "PT", 130, 0.5, -6.0, 14, 400e-6, {"WRIST_PS": 1.6, "WRIST_FE": 0.05}),
    Muscle("FCR", "FCR", 150, 0.15, -1.0, 14, 450e-6, {"WRIST_FE": 1.3, "WRIST_RU": 0.45}),
    Muscle("FPL", "FPL", 160, 0.6, 1.0, 10, 300e-6,
           {"THUMB_IP_FE": 1.8, "THUMB_MCP_FE": 0.8, "THUMB_CMC_FE": 0.3, "WRIST_FE": 0.05}),
    Muscle("FDS_I", "FDS", 185, 0.3, 0.0, 10, 350e-6, _merge(_finger("INDEX", 1.3, 1.6, 0.5), {"WRIST_FE": 0.1})),
    Muscle("FDS_M", "FDS", 197, 0.3, 0.0, 10, 350e-6, _merge(_finger("MIDDLE", 1.3, 1.6, 0.5), {"WRIST_FE": 0.1})),
    Muscle("FDS_RP", "FDS", 210, 0.3, 0.0, 12, 350e-6,
           _merge(_finger("RING", 1.3, 1.6, 0.5), _finger("PINKY", 1.2, 1.5, 0.5), {"WRIST_FE": 0.1})),
    Muscle("FDP_I", "FDP", 218, 0.6, 0.0, 10, 350e-6, _merge(_finger("INDEX", 0.9, 1.1, 1.3), {"WRIST_FE": 0.1})),
    Muscle("FDP_MRP", "FDP", 235, 0.6, 0.0, 16, 450e-6,
           _merge(_finger("MIDDLE", 0.9, 1.1, 1.3), _finger("RING", 0.9, 1.1, 1.3), _finger("PINKY", 0.9, 1.1, 1.2),
                  {"WRIST_FE": 0.1})),
    Muscle("FCU", "FCU", 255, 0.15, -1.0, 14, 450e-6, {"WRIST_FE": 1.1, "WRIST_RU": -0.9}),
    # -- intrinsic hand muscles: distal of the band, so their signal arrives weak and spread ----------------
    Muscle("THENAR", "INTRINSIC", 125, 0.3, 5.0, 16, 300e-6,
           {"THUMB_CMC_FE": 1.1, "THUMB_CMC_AA": -0.25, "THUMB_MCP_FE": 0.6}),
    Muscle("INTEROSSEI", "INTRINSIC", 240, 0.6, 5.0, 30, 300e-6,
           _merge({"INDEX_MCP_AA": 0.5, "MIDDLE_MCP_AA": 0.3, "RING_MCP_AA": 0.45, "PINKY_MCP_AA": 0.6},
                  {f"{f}_MCP_FE": 0.1 for f in ("INDEX", "MIDDLE", "RING", "PINKY")})),
)  # fmt: skip

MUSCLE_NAMES: tuple[str, ...] = tuple(m.name for m in MUSCLES)
N_MUSCLES = len(MUSCLES)

#: Antagonist pairs (agonist, antagonist) that co-contract to stiffen a joint without moving it.
ANTAGONISTS: tuple[tuple[str, str], ...] = (
    ("FCR", "ECR"),
    ("FCU", "ECU"),
    ("PT", "SUP"),
    ("FDS_M", "EDC_IM"),
    ("FDS_RP", "EDC_RP"),
    ("FPL", "EPL"),
)


def gain_matrix(muscles: tuple[Muscle, ...] = MUSCLES) -> np.ndarray:
    """``(23, n_muscles)`` joint-angle change (rad) per unit activation of each muscle, rows in HAND_JOINTS order."""
    gains = np.zeros((len(HAND_JOINTS), len(muscles)))
    row = {name: i for i, name in enumerate(HAND_JOINTS)}
    for k, muscle in enumerate(muscles):
        for joint, value in muscle.gains.items():
            gains[row[joint], k] = value
    return gains


def muscle_table(muscles: tuple[Muscle, ...] = MUSCLES) -> dict[str, np.ndarray]:
    """Per-muscle geometry as arrays: ``angle`` (rad), ``depth``, ``z_cm``, ``width`` (rad), ``max_emg_v``."""
    return {
        "angle": np.deg2rad([m.angle_deg for m in muscles]),
        "depth": np.array([m.depth for m in muscles]),
        "z_cm": np.array([m.z_cm for m in muscles]),
        "width": np.deg2rad([m.width_deg for m in muscles]),
        "max_emg_v": np.array([m.max_emg_v for m in muscles]),
    }


def co_contraction_pattern(gains: np.ndarray) -> np.ndarray:
    """``(n_muscles,)`` non-negative activation pattern of the antagonist pairs whose net joint effect cancels.

    Each pair is weighted so that the two muscles' gain vectors (``gains`` columns) are equally long, so the
    pair's net motion is what is left of their difference, which is small for true antagonists. Sums to 1.
    """
    index = {name: k for k, name in enumerate(MUSCLE_NAMES)}
    pattern = np.zeros(gains.shape[1])
    for agonist, antagonist in ANTAGONISTS:
        i, j = index[agonist], index[antagonist]
        ni, nj = np.linalg.norm(gains[:, i]), np.linalg.norm(gains[:, j])
        pattern[i] += 1.0 / ni
        pattern[j] += 1.0 / nj
    return pattern / pattern.sum()
