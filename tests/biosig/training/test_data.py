"""Pretraining data: sources and group selection, resampling and merging, slots and layouts, the batch sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biosig.signals.info import SignalInfo
from biosig.signals.recording import Recording
from biosig.training.config import DataConfig
from biosig.training.data import (
    DataNotFoundError,
    PretrainData,
    SourceRecording,
    build_pretrain_data,
    load_sources,
    prepare_recordings,
)
from biosig.training.distributed import LayoutBatchSampler
from biosig.training.scaling import InputScaling

BUNDLED = DataConfig(datasets=("myo-bundled",), window_s=1.0, hop_s=1.0)


def rec(
    n_times: int,
    names: tuple[str, ...],
    types: tuple[str, ...],
    sfreq: float = 100.0,
    path: str | None = None,
    value: float | None = None,
):
    data = (
        np.random.default_rng(n_times).normal(size=(len(names), n_times))
        if value is None
        else np.full((len(names), n_times), value)
    )
    return Recording(data.astype(np.float32), SignalInfo(sfreq, names, types), metadata={"path": path} if path else {})


# -- sources and groups -------------------------------------------------------------------------------------


def test_bundled_myo_is_read_with_its_participant_group():
    sources = load_sources(BUNDLED)
    assert len(sources) == 8  # gesture files 0..7 of session 12345-1
    assert {(s.dataset, s.group) for s in sources} == {("myo-bundled", "12345")}


def test_exclude_of_every_group_leaves_nothing():
    with pytest.raises(ValueError, match=r"no recording left after data.include=\[\] and data.exclude=\['12345'\]"):
        load_sources(DataConfig(datasets=("myo-bundled",), exclude=("12345",)))


def test_prefixed_id_of_another_dataset_names_no_group():
    with pytest.raises(
        ValueError, match=r"data.include: 'eegmat:12345' names no group of the datasets read \(myo-bundled: 12345\)"
    ):
        load_sources(DataConfig(datasets=("myo-bundled",), include=("eegmat:12345",)))


def test_typo_in_exclude_raises_rather_than_leaking_a_participant():
    with pytest.raises(ValueError, match=r"data.exclude: '1234' names no group"):
        load_sources(DataConfig(datasets=("myo-bundled",), exclude=("1234",)))


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown dataset\(s\) \['myoo'\]; known: myo, physionet-wfdb, .*synthetic-physio"
    ):
        load_sources(DataConfig(datasets=("myoo",)))


def test_missing_dataset_says_which_and_where(tmp_path):
    with pytest.raises(
        DataNotFoundError, match=r"dataset 'eegmat': no files matching \['\*.edf'\] under .*physionet-eegmat"
    ):
        load_sources(DataConfig(datasets=("eegmat",)), data_dir=tmp_path)


def test_missing_data_dir_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data directory .*nowhere \(from --data-dir\) does not exist"):
        load_sources(DataConfig(datasets=("myo",)), data_dir=tmp_path / "nowhere")


# -- preparation --------------------------------------------------------------------------------------------


def test_rate_groups_of_one_record_are_resampled_and_merged():
    cfg = DataConfig(datasets=("myo",), sfreq=100.0, window_s=1.0, scaling="none")
    ecg = rec(2000, ("MLII",), ("ecg",), sfreq=200.0, path="r.hea")
    resp = rec(500, ("RESP", "Trigger"), ("resp", "stim"), sfreq=50.0, path="r.hea")
    (merged,) = prepare_recordings(
        [SourceRecording("physionet-wfdb", "r", ecg), SourceRecording("physionet-wfdb", "r", resp)], cfg
    )
    assert merged.recording.sfreq == 100.0
    assert merged.recording.info.ch_names == ("MLII", "RESP")  # stim left out by default
    assert merged.recording.n_times == 1000


def test_recordings_shorter_than_a_window_are_left_out_with_a_warning(caplog):
    cfg = DataConfig(datasets=("myo",), sfreq=100.0, window_s=2.0, scaling="none")
    long_, short = rec(300, ("a",), ("emg",)), rec(150, ("a",), ("emg",))
    out = prepare_recordings([SourceRecording("myo", "1", long_), SourceRecording("myo", "2", short)], cfg)
    assert [s.group for s in out] == ["1"]
    assert "1 recording(s) shorter than one 2-s window left out: myo:2" in caplog.text


def test_robust_scaling_centres_each_recording_channel_on_its_median():
    cfg = DataConfig(datasets=("myo",), sfreq=100.0, window_s=1.0)
    (out,) = prepare_recordings([SourceRecording("myo", "1", rec(200, ("a",), ("emg",), value=5.0))], cfg)
    np.testing.assert_array_equal(out.recording.data, 0.0)


# -- windows, slots and layouts -----------------------------------------------------------------------------


def test_layouts_and_slots_across_channel_sets():
    cfg = DataConfig(datasets=("myo",), sfreq=100.0, window_s=1.0, hop_s=1.0, scaling="none")
    a = SourceRecording("x", "1", rec(300, ("ECG", "PPG"), ("ecg", "ppg")))
    b = SourceRecording("y", "2", rec(200, ("ppg", "EDA"), ("ppg", "eda")))  # PPG is the same slot (names lower-cased)
    data = PretrainData([a, b], cfg, InputScaling())
    assert [s.name for s in data.slots] == ["ecg", "ppg", "eda"]
    assert [ids.tolist() for ids in data.layouts] == [[0, 1], [1, 2]]
    assert data.layout_types == [("ecg", "ppg"), ("ppg", "eda")]
    assert data.layout_of.tolist() == [0, 0, 0, 1, 1]
    item = data[3]
    assert item["layout"] == 1 and item["x"].shape == (2, 100)
    torch.testing.assert_close(item["x"], torch.from_numpy(b.recording.data[:, :100].copy()))
    spec = data.signal_spec()
    assert (spec.sfreq, spec.n_times, spec.ch_types) == (100.0, 100, ("ecg", "ppg", "eda"))


def test_bundled_myo_windows_scaled_and_described():
    data = build_pretrain_data(
        DataConfig(datasets=("myo-bundled",), window_s=1.0, hop_s=0.5, max_windows=50), progress=False
    )
    assert len(data) == 50 and data.n_windows_total > 900
    assert data[0]["x"].shape == (8, 200)
    scale = data.scaling.scales["emg"]["a.u."]
    assert 0.005 < scale < 0.2  # int8 / 128 full scale; the MAD of real sEMG is a few percent of it
    described = data.describe()
    assert described["groups"] == {"myo-bundled": ["12345"]}
    assert described["n_windows"] == 50 and described["scaling"]["scales"]["emg"]["a.u."] == scale


def test_max_windows_subset_is_seeded():
    cfg = DataConfig(datasets=("myo-bundled",), window_s=1.0, hop_s=1.0, max_windows=20)
    sources = prepare_recordings(load_sources(cfg), cfg)
    first = PretrainData(sources, cfg, InputScaling(), seed=1)
    again = PretrainData(sources, cfg, InputScaling(), seed=1)
    other = PretrainData(sources, cfg, InputScaling(), seed=2)
    torch.testing.assert_close(first[5]["x"], again[5]["x"])
    assert not torch.equal(
        torch.stack([first[i]["x"] for i in range(20)]), torch.stack([other[i]["x"] for i in range(20)])
    )


def test_multimodal_shared_data_builds_with_one_rate(shared_data):
    cfg = DataConfig(
        datasets=("eegmat", "physionet-wfdb", "neurokit"),
        sfreq=100.0,
        window_s=4.0,
        hop_s=4.0,
        ch_types=("eeg", "ecg", "ppg", "resp", "eda", "eog", "abp"),
        include=("eegmat:00", "100", "03700181", "mixedsignals", "bio_resting_5min_100hz"),
    )
    data = build_pretrain_data(cfg, data_dir=shared_data, progress=False)
    layouts = {tuple(data.slots[i].name for i in ids.tolist()) for ids in data.layouts}
    assert ("mlii", "v5") in layouts
    assert ("mcl1", "abp", "resp") in layouts  # two WFDB rate groups merged back into one record
    assert ("ecg", "ppg", "rsp") in layouts
    assert ("ii", "iii", "v", "abp", "pleth", "resp") in layouts  # 249.89, 124.945 and 62.4725 Hz, merged at 100 Hz
    assert any(len(layout) == 21 for layout in layouts)  # eegmat 20 EEG + ECG
    assert set(data.scaling.scales) == {"eeg", "ecg", "ppg", "resp", "abp"}
    assert set(data.scaling.scales["ecg"]) == {"V", "a.u."}
    assert data.sfreq == 100.0 and data.n_window == 400


# -- the batch sampler --------------------------------------------------------------------------------------


def test_sampler_batches_hold_one_layout_and_cover_every_window_once():
    layout_of = np.array([0] * 10 + [1] * 7 + [2] * 3)
    sampler = LayoutBatchSampler(layout_of, batch_size=4, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3 + 2 + 1
    assert all(len(set(layout_of[b])) == 1 for b in batches)
    assert sorted(i for b in batches for i in b) == list(range(20))


def test_sampler_order_depends_on_seed_and_epoch_only():
    sampler = LayoutBatchSampler(np.zeros(50, dtype=int), batch_size=5, seed=3)
    first = list(sampler)
    assert list(LayoutBatchSampler(np.zeros(50, dtype=int), batch_size=5, seed=3)) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_sampler_shards_ranks_disjointly_with_equal_step_counts():
    layout_of = np.array([0] * 9 + [1] * 5)  # 3 + 2 = 5 batches of <= 3; padded to 6 for 2 ranks
    shards = [list(LayoutBatchSampler(layout_of, 3, seed=0, rank=r, world_size=2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 3
    everything = LayoutBatchSampler(layout_of, 3, seed=0, world_size=2).batches(0)
    assert everything[5] == everything[0]  # the padding repeats the first batch
    assert shards[0] + shards[1] != [] and sorted(map(tuple, shards[0] + shards[1])) == sorted(map(tuple, everything))


def test_sampler_pads_cyclically_when_ranks_outnumber_batches():
    sampler = LayoutBatchSampler(np.zeros(2, dtype=int), 4, seed=0, rank=2, world_size=3)
    assert list(sampler) == [[0, 1]] or list(sampler) == [[1, 0]]


def test_sampler_rejects_a_rank_outside_the_world():
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\), got 2"):
        LayoutBatchSampler(np.zeros(4, dtype=int), 2, seed=0, rank=2, world_size=2)
