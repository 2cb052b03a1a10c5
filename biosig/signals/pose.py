"""Hand-pose conventions: joint order and wrist degrees of freedom.

Joint angles are in radians, in emg2pose's order of 20 finger angles (FE: flexion/extension, positive =
flexion; AA: abduction/adduction). Gesture sets that need the wrist append the three wrist DOFs after them.
"""

from __future__ import annotations

#: The 20 finger joint angles in the order of emg2pose's ``joint_angles`` field.
FINGER_JOINTS: tuple[str, ...] = (
    "THUMB_CMC_FE",
    "THUMB_CMC_AA",
    "THUMB_MCP_FE",
    "THUMB_IP_FE",
    "INDEX_MCP_AA",
    "INDEX_MCP_FE",
    "INDEX_PIP_FE",
    "INDEX_DIP_FE",
    "MIDDLE_MCP_AA",
    "MIDDLE_MCP_FE",
    "MIDDLE_PIP_FE",
    "MIDDLE_DIP_FE",
    "RING_MCP_AA",
    "RING_MCP_FE",
    "RING_PIP_FE",
    "RING_DIP_FE",
    "PINKY_MCP_AA",
    "PINKY_MCP_FE",
    "PINKY_PIP_FE",
    "PINKY_DIP_FE",
)

#: Wrist DOFs appended after the finger joints: flexion(+)/extension(-), radial(+)/ulnar(-) deviation,
#: pronation(+)/supination(-).
WRIST_JOINTS: tuple[str, ...] = ("WRIST_FE", "WRIST_RU", "WRIST_PS")

#: Finger joints followed by wrist DOFs: the 23-angle layout used by gesture sets with wrist movements.
HAND_JOINTS: tuple[str, ...] = FINGER_JOINTS + WRIST_JOINTS

N_FINGER_JOINTS = len(FINGER_JOINTS)  # 20
N_HAND_JOINTS = len(HAND_JOINTS)  # 23
