"""Write a synthetic corpus in emg2pose's layout: one HDF5 file per user x stage x hand, plus sidecars.

::

    out_dir/
        metadata.csv          emg2pose columns + ``gestures`` (";"-joined) and ``seen`` (bool), ``start``, ``end``
        gestures.json         vocabulary, authored target pose of every gesture (23 angles), seen/unseen, stages,
                              the generator config, and per file: timeline, user profile, reference poses
        <filename>.hdf5       emg2pose schema (biosig.io.emg2pose.write_session): EMG in microvolts, 20 angles
        labels/<filename>.npz per-sample ``labels`` (int16 into the vocabulary), ``phases`` (int8),
                              ``wrist`` ((T, 3) float32 rad, WRIST_JOINTS), ``pose_valid`` (bool)

emg2pose files carry neither gesture labels nor wrist angles, so both live in the sidecars. Both hands of a
stage follow the same prompt timeline on the same clock (emg2pose records both bands at once); every user has
one recording session.

Splits follow emg2pose's ``metadata.csv``: a file is ``held_out_user`` when its user is held out and
``held_out_stage`` when its stage prompts unseen gestures; held-out files are ``test`` with
``generalization`` ``user``, ``stage`` or ``user_stage``; the rest are ``train`` (or ``val`` for
``val_users``) with an empty ``generalization``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import signal
from tqdm.auto import tqdm

from biosig.io.emg2pose import write_metadata, write_session
from biosig.signals.pose import HAND_JOINTS
from biosig.synth.hand.config import SAMPLE_RATE, SynthConfig
from biosig.synth.hand.gestures import GESTURE_NAMES, GESTURES, check_gesture_names, stages_of
from biosig.synth.hand.profile import SIDES, UserProfile
from biosig.synth.hand.session import DEFAULT_START_TIME, generate_session
from biosig.synth.hand.timeline import PHASE_NAMES, sample_timeline

logger = logging.getLogger(__name__)

METADATA_FILE = "metadata.csv"
GESTURES_FILE = "gestures.json"
LABELS_DIR = "labels"
#: emg2pose's released EMG is high-pass filtered; the corpus files are too (zero-phase, so EMG keeps its
#: timing relative to the pose).
HIGHPASS_HZ = 20.0
_STAGE_GAP_S = 30.0  # pause between two stages of a session (their time axes must not overlap)


def _user_ids(n_users: int) -> list[str]:
    return [f"user{i:03d}" for i in range(n_users)]


def _held_out(held_out_users: int | Sequence[str], users: list[str], parameter: str) -> set[str]:
    if isinstance(held_out_users, bool):
        raise TypeError(f"{parameter} must be a count or a sequence of user ids, got {held_out_users!r}")
    if isinstance(held_out_users, int):
        if not 0 <= held_out_users < len(users):
            raise ValueError(
                f"{parameter} must leave at least one training user: 0 <= {parameter} < n_users={len(users)}, "
                f"got {held_out_users}"
            )
        return set(users[len(users) - held_out_users :])
    if isinstance(held_out_users, str):
        raise TypeError(f"{parameter} must be a count or a sequence of user ids, got the string {held_out_users!r}")
    chosen = {str(u) for u in held_out_users}
    unknown = sorted(chosen - set(users))
    if unknown:
        raise ValueError(f"{parameter}: unknown user id(s) {unknown}; users are {users}")
    return chosen


def _stage_seen(stages: dict[str, tuple[str, ...]], unseen: set[str]) -> dict[str, bool]:
    """``{stage: True}`` if every gesture of the stage is seen, False if every one is unseen; mixing raises."""
    seen = {}
    for stage, gestures in stages.items():
        flags = {g not in unseen for g in gestures if g != "rest"}
        if len(flags) > 1:
            raise ValueError(
                f"stage {stage!r} mixes seen and unseen gestures {list(gestures)} (unseen: {sorted(unseen)}); "
                "put unseen gestures in stages of their own so that whole stages can be held out"
            )
        seen[stage] = flags != {False}
    return seen


def _highpass(emg: np.ndarray, cutoff_hz: float | None, sample_rate: float) -> np.ndarray:
    if cutoff_hz is None:
        return emg
    sos = signal.butter(4, cutoff_hz, btype="highpass", fs=sample_rate, output="sos")
    return signal.sosfiltfilt(sos, emg, axis=0)


def write_corpus(
    out_dir: str | os.PathLike[str],
    n_users: int,
    stages: Mapping[str, Sequence[str]] | int | None = None,
    sides: Sequence[str] = SIDES,
    seed: int = 0,
    held_out_users: int | Sequence[str] = 1,
    unseen_gestures: Sequence[str] = (),
    progress: bool = True,
    *,
    duration_s: float = 60.0,
    config: SynthConfig | None = None,
    val_users: Sequence[str] = (),
    highpass_hz: float | None = HIGHPASS_HZ,
    overwrite: bool = False,
    compression: str | None = None,
) -> pd.DataFrame:
    """Generate and write a synthetic emg2pose-schema corpus; returns its metadata table.

    Parameters
    ----------
    out_dir
        Folder to write into (created if needed).
    n_users
        Number of users, named ``user000``, ``user001``, ...
    stages
        ``{stage: gesture names}``, a number of :data:`~.gestures.DEFAULT_STAGES`, or None for all of them.
    sides
        Hands to record (``"left"``, ``"right"``).
    seed
        Non-negative corpus seed; the same arguments and seed give bitwise identical files.
    held_out_users
        How many of the last users to hold out, or their ids.
    unseen_gestures
        Gestures held out from training; every stage must be all seen or all unseen.
    progress
        Show a tqdm progress bar over files.
    duration_s
        Length of each stage recording, seconds.
    config
        Noise and variability knobs (``SynthConfig.at_difficulty(d)``); defaults to difficulty 1.
    val_users
        Ids of training users whose seen-stage files go to the ``val`` split.
    compression
        HDF5 filter for the session files (None, ``"gzip"``, ``"lzf"``; see ``write_session``).
    highpass_hz
        Zero-phase high-pass applied to the EMG before writing (emg2pose files are high-pass filtered);
        None writes the raw synthetic EMG with its baseline drift.
    overwrite
        Replace existing files; otherwise an existing session file raises ``FileExistsError``.
    """
    if isinstance(n_users, bool) or not isinstance(n_users, int) or n_users < 1:
        raise ValueError(f"n_users must be a positive integer, got {n_users!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    sides = tuple(sides)
    bad_sides = [s for s in sides if s not in SIDES]
    if bad_sides or not sides or len(set(sides)) != len(sides):
        raise ValueError(f"sides must be distinct values among {list(SIDES)}, got {list(sides)}")
    stage_map = stages_of(stages)
    unseen = set(check_gesture_names(unseen_gestures, "unseen_gestures")) if len(unseen_gestures) else set()
    if "rest" in unseen:
        raise ValueError("unseen_gestures cannot include 'rest': every stage rests between gestures")
    stage_seen = _stage_seen(stage_map, unseen)
    config = SynthConfig() if config is None else config
    if highpass_hz is not None and not 0 < highpass_hz < SAMPLE_RATE / 2:
        raise ValueError(f"highpass_hz must be in (0, {SAMPLE_RATE / 2}) Hz or None, got {highpass_hz!r}")
    users = _user_ids(n_users)
    held_users = _held_out(held_out_users, users, "held_out_users")
    validation = _held_out(val_users, users, "val_users") if len(val_users) else set()
    if validation & held_users:
        raise ValueError(f"val_users and held_out_users overlap: {sorted(validation & held_users)}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / LABELS_DIR).mkdir(exist_ok=True)
    rows: list[dict[str, object]] = []
    files: dict[str, object] = {}
    jobs = [(u, s) for u in range(n_users) for s in range(len(stage_map))]
    stage_names = list(stage_map)
    bar = tqdm(total=len(jobs) * len(sides), desc="synthetic emg2pose", unit="file", disable=not progress)
    for user_index, stage_index in jobs:
        user, stage = users[user_index], stage_names[stage_index]
        gestures = stage_map[stage]
        session_id = f"synth-{user}-s0"
        start_time = DEFAULT_START_TIME + user_index * 86_400.0 + stage_index * (duration_s + _STAGE_GAP_S)
        # One prompt timeline per stage, shared by both hands.
        timeline = sample_timeline(
            gestures, duration_s, np.random.default_rng([int(seed), user_index, stage_index, 0]), config
        )
        for side in sides:
            profile = UserProfile.sample(user, side, int(seed), config.user_variability)
            session_seed = np.random.SeedSequence([int(seed), user_index, stage_index, SIDES.index(side) + 1])
            session = generate_session(
                profile, gestures, duration_s, session_seed, config=config, timeline=timeline, start_time=start_time
            )
            filename = f"{session_id}_{stage}_{side}"
            emg_uv = (_highpass(session.emg.astype(np.float64), highpass_hz, session.sample_rate) * 1e6).astype(
                np.float32
            )
            write_session(
                out / f"{filename}.hdf5",
                time=session.time,
                emg=emg_uv,
                joint_angles=session.joint_angles,
                session=session_id,
                stage=stage,
                user=user,
                side=side,
                sample_rate=session.sample_rate,
                filename=filename,
                overwrite=overwrite,
                compression=compression,
            )
            np.savez_compressed(
                out / LABELS_DIR / f"{filename}.npz",
                labels=session.labels.astype(np.int16),
                phases=session.phases,
                wrist=session.wrist.astype(np.float32),
                pose_valid=session.pose_valid,
            )
            held_user, held_stage = user in held_users, not stage_seen[stage]
            generalization = {(True, True): "user_stage", (True, False): "user", (False, True): "stage"}.get(
                (held_user, held_stage), ""
            )
            split = "test" if generalization else ("val" if user in validation else "train")
            rows.append(
                {
                    "filename": filename,
                    "user": user,
                    "session": session_id,
                    "stage": stage,
                    "side": side,
                    "moving_hand": "both",
                    "held_out_user": held_user,
                    "held_out_stage": held_stage,
                    "split": split,
                    "generalization": generalization,
                    "gestures": ";".join(gestures),
                    "seen": stage_seen[stage],
                    "start": float(session.time[0]),
                    "end": float(session.time[-1]),
                }
            )
            files[filename] = {
                "user": user,
                "stage": stage,
                "side": side,
                "labels": f"{LABELS_DIR}/{filename}.npz",
                "timeline": session.timeline.to_dict(),
                "profile": profile.to_dict(),
                "reference_poses": {g: p.round(6).tolist() for g, p in session.gesture_poses.items()},
            }
            bar.update(1)
    bar.close()

    metadata = pd.DataFrame(rows)
    write_metadata(metadata, out / METADATA_FILE)
    sidecar = {
        "format": "biosig-synthetic-emg2pose/1",
        "seed": int(seed),
        "sample_rate": SAMPLE_RATE,
        "emg_highpass_hz": highpass_hz,
        "vocabulary": list(GESTURE_NAMES),
        "joints": list(HAND_JOINTS),
        "phases": {str(k): v for k, v in PHASE_NAMES.items()},
        "gestures": {
            name: {
                "description": GESTURES[name].description,
                "target": GESTURES[name].target.round(6).tolist(),
                "seen": name not in unseen,
            }
            for name in GESTURE_NAMES
        },
        "seen_gestures": sorted({g for gs in stage_map.values() for g in gs} - unseen),
        "unseen_gestures": sorted(unseen),
        "stages": {name: list(g) for name, g in stage_map.items()},
        "held_out_users": sorted(held_users),
        "config": config.to_dict(),
        "files": files,
    }
    (out / GESTURES_FILE).write_text(json.dumps(sidecar, indent=1))
    logger.info("wrote %d synthetic emg2pose files for %d users to %s", len(rows), n_users, out)
    return metadata
