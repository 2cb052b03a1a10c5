"""Shared checks every reader's output must pass, in the spirit of MNE's ``_test_raw_reader``.

(This module is not a test file, so pytest does not rewrite its asserts: every comparison that can fail on a
reader's output carries its own message.)

Use ``check_recording(rec, ...)`` on each :class:`Recording` a reader returns; the optional keyword arguments
pin what that particular file is known to hold. It also exercises ``pick``/``crop`` so that a reader which
builds an inconsistent recording fails here rather than in a user's pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from biosig.signals.info import CHANNEL_TYPES, SignalInfo
from biosig.signals.recording import UNLABELLED, Annotations, Recording


def check_recording(
    rec: Recording,
    *,
    n_channels: int | None = None,
    n_times: int | None = None,
    sfreq: float | None = None,
    ch_names: Sequence[str] | None = None,
    ch_types: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
    labelled: bool | None = None,
    metadata_keys: Sequence[str] = ("path",),
    check_finite: bool = True,
) -> Recording:
    """Assert the recording contract and the given expectations; return ``rec`` for chaining."""
    assert isinstance(rec, Recording), f"expected a Recording, got {type(rec).__name__}"
    info = rec.info
    assert isinstance(info, SignalInfo)

    # Geometry and storage.
    data = rec.data
    assert data.ndim == 2
    assert data.dtype == np.float32, f"data must be float32, got {data.dtype}"
    assert not data.flags.writeable, "data must be read-only"
    assert data.flags.c_contiguous
    assert data.shape[0] == info.n_channels == len(info.ch_names) == len(info.ch_types) == len(info.units)
    assert data.shape[1] > 0, "a reader must not return an empty recording"
    with pytest.raises(ValueError, match="read-only"):
        data[0, 0] = 0.0
    if check_finite:
        assert np.isfinite(data).all(), "data holds NaN or inf (mask them with `valid` instead)"

    # Info.
    assert info.sfreq > 0 and np.isfinite(info.sfreq)
    assert set(info.ch_types) <= CHANNEL_TYPES
    assert len(set(info.ch_names)) == info.n_channels
    assert all(isinstance(u, str) and u for u in info.units)
    assert rec.duration == pytest.approx(rec.n_times / info.sfreq)

    # Labels and mask.
    if rec.labels is not None:
        assert rec.labels.shape == (rec.n_times,)
        assert rec.labels.dtype == np.int64
        assert not rec.labels.flags.writeable
        present = set(np.unique(rec.labels).tolist()) - {UNLABELLED}
        assert present <= set(rec.label_names), f"labels {sorted(present)} lack names in {dict(rec.label_names)}"
    if labelled is not None:
        assert (rec.labels is not None) == labelled
    if rec.valid is not None:
        assert rec.valid.shape == (rec.n_times,) and rec.valid.dtype == np.bool_
        assert not rec.valid.flags.writeable

    # Annotations live on the recording's time axis.
    ann = rec.annotations
    assert isinstance(ann, Annotations)
    if len(ann):
        assert ann.onset.min() >= 0, "annotation before the first sample"
        assert ann.onset.max() <= rec.duration + 1e-6, "annotation after the last sample"
        assert (ann.duration >= 0).all()

    assert isinstance(rec.metadata, Mapping)
    for key in metadata_keys:
        assert key in rec.metadata, f"metadata lacks {key!r}: {sorted(rec.metadata)}"

    # Expectations about this file.
    for what, got, want in (
        ("n_channels", rec.n_channels, n_channels),
        ("n_times", rec.n_times, n_times),
        ("ch_names", info.ch_names, None if ch_names is None else tuple(ch_names)),
        ("ch_types", info.ch_types, None if ch_types is None else tuple(ch_types)),
        ("units", info.units, None if units is None else tuple(units)),
    ):
        assert want is None or got == want, f"{what}: got {got}, expected {want}"
    if sfreq is not None:
        assert info.sfreq == pytest.approx(sfreq), f"sfreq: got {info.sfreq}, expected {sfreq}"

    # Derived recordings stay consistent (pick the last channel, crop the first half).
    picked = rec.pick([info.ch_names[-1]])
    np.testing.assert_array_equal(picked.data[0], data[-1])
    half = max(1, rec.n_times // 2)
    cropped = rec.crop(0.0, half / info.sfreq)
    assert cropped.n_times == half
    if rec.labels is not None:
        np.testing.assert_array_equal(cropped.labels, rec.labels[:half])
    return rec
