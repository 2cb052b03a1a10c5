"""Hand kinematics: anatomical joint limits, the passive rest pose, activation -> pose, and its dynamics.

The musculoskeletal model is deliberately linear-quasi-static: the equilibrium pose is the passive rest pose
plus the muscles' gain matrix times their activations, clipped to the joint limits,

    q_eq(t) = clip(q_rest + G @ a(t), lower, upper),

and the actual pose follows the equilibrium through an electromechanical delay and two first-order lags
(excitation -> activation dynamics, then the limb's own damped mechanics), so pose trails EMG by ~100 ms,
as in recordings. Both lags have non-negative impulse responses that integrate to one, so the filtered pose
is a running weighted mean of poses inside the limits and therefore stays inside them.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from biosig.signals.pose import HAND_JOINTS

#: Anatomical range of motion (radians) per joint of :data:`~biosig.signals.pose.HAND_JOINTS`: active ranges
#: of adult hands (e.g. the AAOS tables), slightly narrowed so synthetic poses never sit on a hard stop.
JOINT_LIMITS: dict[str, tuple[float, float]] = {
    "THUMB_CMC_FE": (-0.40, 0.90),
    "THUMB_CMC_AA": (-0.30, 1.00),
    "THUMB_MCP_FE": (-0.20, 1.00),
    "THUMB_IP_FE": (-0.30, 1.40),
    **{
        name: limits
        for finger in ("INDEX", "MIDDLE", "RING", "PINKY")
        for name, limits in (
            (f"{finger}_MCP_AA", (-0.35, 0.45) if finger != "MIDDLE" else (-0.30, 0.30)),
            (f"{finger}_MCP_FE", (-0.50, 1.60)),
            (f"{finger}_PIP_FE", (-0.10, 1.90)),
            (f"{finger}_DIP_FE", (-0.10, 1.40)),
        )
    },
    "WRIST_FE": (-1.20, 1.30),  # extension 70 deg, flexion 75 deg
    "WRIST_RU": (-0.60, 0.35),  # ulnar deviation 35 deg, radial deviation 20 deg
    "WRIST_PS": (-1.40, 1.40),  # supination / pronation 80 deg from the thumb-up neutral position
}

LOWER = np.array([JOINT_LIMITS[j][0] for j in HAND_JOINTS])
UPPER = np.array([JOINT_LIMITS[j][1] for j in HAND_JOINTS])

#: The relaxed hand with no muscle active: fingers gently curled, thumb resting beside the index finger,
#: wrist and forearm neutral. Radians, HAND_JOINTS order.
REST_POSE = np.array(
    [0.10, 0.35, 0.20, 0.20]  # thumb CMC FE, CMC AA, MCP FE, IP FE
    + [0.00, 0.35, 0.45, 0.25] * 4  # each finger: MCP AA, MCP FE, PIP FE, DIP FE
    + [0.00, 0.00, 0.00]  # wrist FE, RU, PS
)

#: Electromechanical delay and the two lags of the activation -> pose dynamics, seconds.
EMD_S = 0.02
ACTIVATION_TAU_S = 0.03
MECHANICAL_TAU_S = 0.06


def equilibrium_pose(activations: np.ndarray, gains: np.ndarray, rest_pose: np.ndarray = REST_POSE) -> np.ndarray:
    """Static pose that ``activations`` would hold, clipped to the joint limits.

    Parameters
    ----------
    activations
        ``(n_times, n_muscles)`` activations in [0, 1] (or ``(n_muscles,)`` for one instant).
    gains
        ``(23, n_muscles)`` gain matrix, radians per unit activation (:func:`~.muscles.gain_matrix`).
    rest_pose
        ``(23,)`` passive pose, radians.

    Returns
    -------
    ``(n_times, 23)`` (or ``(23,)``) joint angles in radians, HAND_JOINTS order.
    """
    pose = rest_pose + activations @ gains.T
    return np.clip(pose, LOWER, UPPER)


def _first_order_sos(tau_s: float, sample_rate: float) -> np.ndarray:
    """Exact discretisation (impulse invariance, unit DC gain) of ``1 / (1 + s tau)``."""
    alpha = float(np.exp(-1.0 / (tau_s * sample_rate)))
    return np.array([[1.0 - alpha, 0.0, 0.0, 1.0, -alpha, 0.0]])


def pose_dynamics(
    target: np.ndarray,
    sample_rate: float,
    delay_s: float = EMD_S,
    taus_s: tuple[float, ...] = (ACTIVATION_TAU_S, MECHANICAL_TAU_S),
) -> np.ndarray:
    """The pose that follows an equilibrium trajectory with a delay and cascaded first-order lags.

    Parameters
    ----------
    target
        ``(n_times, n_joints)`` equilibrium trajectory, radians.
    sample_rate
        Hz.

    Returns
    -------
    ``(n_times, n_joints)`` float64 pose, starting at rest in ``target[0]`` (no start-up transient).
    """
    target = np.asarray(target, dtype=np.float64)
    shift = int(round(delay_s * sample_rate))
    if shift:
        target = np.concatenate([np.repeat(target[:1], shift, axis=0), target[:-shift]], axis=0)
    sos = np.concatenate([_first_order_sos(tau, sample_rate) for tau in taus_s], axis=0)
    # Start every filter section in steady state at the first sample, so the hand does not "arrive" at t=0.
    zi = signal.sosfilt_zi(sos)[:, :, None] * target[0][None, None, :]
    out, _ = signal.sosfilt(sos, target, axis=0, zi=zi)
    return out


def minimum_jerk(progress: np.ndarray) -> np.ndarray:
    """Minimum-jerk profile ``10 s^3 - 15 s^4 + 6 s^5`` of ``progress`` clipped to [0, 1] (Flash & Hogan 1985)."""
    s = np.clip(progress, 0.0, 1.0)
    return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))
