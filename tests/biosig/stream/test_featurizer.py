from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biosig.errors import SignalError
from biosig.signals.filters import causal_filter, design_filter
from biosig.signals.resample import resample
from biosig.stream.featurizer import FeaturizerConfig, StreamFeaturizer, offline_windows, samples_for

# (sfreq_in, sfreq_out, filter kwargs): passthrough, integer decimation, a fractional ratio, and upsampling.
PROFILES = {
    "myo-passthrough": (200.0, 200.0, {"highpass": 10.0}),
    "emg2pose-decimate": (2000.0, 200.0, {"highpass": 20.0, "notch": 50.0}),
    "fractional-250-to-200": (250.0, 200.0, {"lowpass": 90.0}),
    "upsample-100-to-200": (100.0, 200.0, {}),
}


def make_config(profile: str, n_channels: int = 3, window: int = 40, hop_s: float = 0.05) -> FeaturizerConfig:
    sfreq_in, sfreq, filt = PROFILES[profile]
    return FeaturizerConfig.for_model(sfreq, window, sfreq_in=sfreq_in, n_channels=n_channels, hop_s=hop_s, **filt)


def feed(featurizer: StreamFeaturizer, x: np.ndarray, sizes, first: int = 0) -> list:
    windows, pos = [], 0
    for n in sizes:
        windows += featurizer.push(first + pos, x[:, pos : pos + n]).windows
        pos += n
    assert pos >= x.shape[1]
    return windows + featurizer.close()


def random_sizes(rng, total: int, high: int = 60) -> list[int]:
    sizes = []
    while sum(sizes) < total:
        sizes.append(int(rng.integers(0, high)))
    return sizes


def as_pairs(windows) -> list[tuple[int, np.ndarray]]:
    return [(w.end, w.data) for w in windows]


def assert_same_windows(a, b) -> None:
    assert [e for e, _ in a] == [e for e, _ in b]
    for (_, x), (_, y) in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)


# -- chunk invariance and the offline reference --------------------------------------------------------------


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_random_chunks_give_the_windows_of_one_whole_push(profile, rng):
    config = make_config(profile)
    x = rng.standard_normal((3, int(2.2 * config.sfreq_in))).astype(np.float32)
    whole = as_pairs(feed(StreamFeaturizer(config), x, [x.shape[1]]))
    chunked = as_pairs(feed(StreamFeaturizer(config), x, random_sizes(rng, x.shape[1])))
    assert len(whole) > 30
    assert_same_windows(whole, chunked)


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("first_sample", [0, 37])
def test_stream_equals_offline_filter_then_resample(profile, first_sample, rng):
    config = make_config(profile)
    x = rng.standard_normal((3, int(1.5 * config.sfreq_in))).astype(np.float32)
    streamed = as_pairs(feed(StreamFeaturizer(config), x, random_sizes(rng, x.shape[1]), first=first_sample))
    assert_same_windows(streamed, offline_windows(x, config, first_sample))


def test_offline_windows_match_scipy_pipeline_directly(rng):
    """The reference itself: causal filter, scipy resampling, windows cut on the absolute hop grid."""
    config = make_config("emg2pose-decimate", window=40)
    x = rng.standard_normal((3, 4000))
    y = resample(causal_filter(x, design_filter(2000.0, highpass=20.0, notch=50.0)), 2000.0, 200.0)
    windows = offline_windows(x.astype(np.float32), config)
    assert [e for e, _ in windows] == list(range(40, 401, 10))
    np.testing.assert_allclose(windows[3][1], y[:, 30:70], rtol=1e-5, atol=1e-5)


def test_window_grid_timing_and_hop(rng):
    config = make_config("myo-passthrough", window=40, hop_s=0.05)  # hop = 10 samples at 200 Hz
    windows = feed(StreamFeaturizer(config, "s"), rng.standard_normal((3, 100)), [100])
    assert [w.end for w in windows] == [40, 50, 60, 70, 80, 90, 100]
    assert windows[0].start == 0
    assert windows[0].end_s == pytest.approx(0.2)
    assert windows[0].data.dtype == np.float32
    assert windows[0].data.shape == (3, 40)
    assert {w.stream_id for w in windows} == {"s"}


def test_decimating_stream_emits_only_once_the_resampler_delay_has_passed(rng):
    config = make_config("emg2pose-decimate", window=40)
    featurizer = StreamFeaturizer(config)
    delay_in = int(np.ceil(featurizer.delay_s * 2000.0))
    x = rng.standard_normal((3, 4000)).astype(np.float32)
    # Input up to the window's end (sample 400 at 2 kHz) does not yet complete the window ending at 40 ...
    assert featurizer.push(0, x[:, :400]).windows == []
    # ... the resampler's lag of input does.
    assert [w.end for w in featurizer.push(400, x[:, 400 : 400 + delay_in]).windows] == [40]


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=97), min_size=1, max_size=40),
    profile=st.sampled_from(sorted(PROFILES)),
    first=st.integers(min_value=0, max_value=50),
)
def test_property_any_chunking_gives_the_same_windows(sizes, profile, first):
    config = make_config(profile, n_channels=2, window=20)
    total = max(sum(sizes), 1)
    x = np.random.default_rng(total).standard_normal((2, total)).astype(np.float32)
    sizes = sizes + [total]  # the tail (if any) in one final chunk
    chunked = as_pairs(feed(StreamFeaturizer(config), x, sizes, first=first))
    assert_same_windows(chunked, offline_windows(x, config, first))


# -- gaps ----------------------------------------------------------------------------------------------------


def test_gap_is_reported_and_no_window_spans_it(rng):
    config = make_config("myo-passthrough", window=40)  # hop 10
    featurizer = StreamFeaturizer(config, "armband")
    x = rng.standard_normal((3, 300)).astype(np.float32)
    before = featurizer.push(0, x[:, :100])
    result = featurizer.push(130, x[:, 130:300])  # samples 100..129 are missing
    assert [g.n_missing for g in result.gaps] == [30]
    gap = result.gaps[0]
    assert (gap.start, gap.stop, gap.stream_id) == (100, 130, "armband")
    assert gap.duration_s == pytest.approx(0.15)
    ends = [w.end for w in before.windows + result.windows]
    # Windows end on the absolute grid; none may hold a sample from before 130 and after 100 at once.
    assert ends == [40, 50, 60, 70, 80, 90, 100, 170, 180, 190, 200, 210, 220, 230, 240, 250, 260, 270, 280, 290, 300]
    # Ends 110..160 would span the gap or the restart: 6 windows lost.
    assert gap.skipped_windows == 6
    assert featurizer.n_gaps == 1
    assert featurizer.n_missing == 30


def test_segment_after_gap_is_featurized_as_a_new_recording(rng):
    config = make_config("emg2pose-decimate", window=40)
    x = rng.standard_normal((3, 6000)).astype(np.float32)
    featurizer = StreamFeaturizer(config)
    first = feed_until(featurizer, x, 0, 2000)
    after = featurizer.push(2345, x[:, 2345:]).windows + featurizer.close()
    # The push that reveals the gap first flushes the old segment's tail: its last window (end 200) comes then.
    first += [w for w in after if w.end <= 200]
    second = [w for w in after if w.end > 200]
    assert_same_windows(as_pairs(first), offline_windows(x[:, :2000], config, 0))
    assert_same_windows(as_pairs(second), offline_windows(x[:, 2345:], config, 2345))


def feed_until(featurizer: StreamFeaturizer, x: np.ndarray, start: int, stop: int) -> list:
    windows = []
    for a in range(start, stop, 150):
        windows += featurizer.push(a, x[:, a : min(a + 150, stop)]).windows
    return windows


def test_gaps_do_not_depend_on_chunking(rng):
    config = make_config("fractional-250-to-200", window=40)
    x = rng.standard_normal((3, 1500)).astype(np.float32)
    keep = np.ones(1500, bool)
    keep[300:333] = False
    keep[900:905] = False
    results = []
    for sizes in ([1500], random_sizes(rng, 1500, 40)):
        featurizer, windows, gaps, pos = StreamFeaturizer(config), [], [], 0
        for n in sizes:
            idx = np.arange(pos, min(pos + n, 1500))
            for run in np.split(idx[keep[idx]], np.where(np.diff(idx[keep[idx]]) > 1)[0] + 1):
                if run.size:
                    r = featurizer.push(int(run[0]), x[:, run])
                    windows += r.windows
                    gaps += r.gaps
            pos += n
        windows += featurizer.close()
        results.append((as_pairs(windows), [(g.start, g.stop, g.skipped_windows) for g in gaps]))
    assert results[0][1] == [(300, 333, results[0][1][0][2]), (900, 905, results[0][1][1][2])]
    assert results[0][1] == results[1][1]
    assert_same_windows(results[0][0], results[1][0])


# -- overlaps (resent frames) and errors ---------------------------------------------------------------------


def test_resent_samples_are_trimmed_and_counted(rng):
    config = make_config("myo-passthrough", window=40)
    x = rng.standard_normal((3, 200)).astype(np.float32)
    featurizer = StreamFeaturizer(config)
    featurizer.push(0, x[:, :100])
    result = featurizer.push(80, x[:, 80:200])  # 20 samples resent, 100 new
    assert result.n_duplicate == 20
    assert result.gaps == []
    windows = feed(StreamFeaturizer(config), x, [200])
    reference = [w.end for w in windows]
    assert reference[-len(result.windows) - 1 :][1:] == [w.end for w in result.windows]
    assert featurizer.push(50, x[:, 50:60]).n_duplicate == 10  # entirely old: nothing new, nothing lost


def test_overlap_raises_when_configured(rng):
    config = FeaturizerConfig(200.0, 2, 200.0, window=20, hop=10, on_overlap="raise")
    featurizer = StreamFeaturizer(config, "s1")
    featurizer.push(0, np.zeros((2, 30)))
    with pytest.raises(SignalError, match=r"chunk starts at sample 25 but samples up to 29 were already consumed"):
        featurizer.push(25, np.zeros((2, 10)))


def test_nan_chunk_is_refused_and_state_untouched(rng):
    config = make_config("myo-passthrough", n_channels=2, window=20)
    x = rng.standard_normal((2, 100)).astype(np.float32)
    featurizer = StreamFeaturizer(config)
    featurizer.push(0, x[:, :50])
    bad = x[:, 50:60].copy()
    bad[1, 3] = np.nan
    with pytest.raises(SignalError, match="chunk contains NaN or infinite samples"):
        featurizer.push(50, bad)
    assert featurizer.next_sample == 50
    rest = featurizer.push(50, x[:, 50:]).windows + featurizer.close()
    clean = feed(StreamFeaturizer(config), x, [100])
    assert_same_windows(as_pairs(rest), as_pairs(clean)[-len(rest) :])


def test_wrong_channel_count_is_refused():
    featurizer = StreamFeaturizer(make_config("myo-passthrough", n_channels=3))
    with pytest.raises(SignalError, match=r"chunk must have shape \(n_channels=3, n_times\), got shape \(2, 10\)"):
        featurizer.push(0, np.zeros((2, 10)))


@pytest.mark.parametrize("first", [-1, 2.0, True])
def test_bad_first_sample(first):
    featurizer = StreamFeaturizer(make_config("myo-passthrough"))
    with pytest.raises(SignalError, match="first_sample must be a non-negative integer sample index"):
        featurizer.push(first, np.zeros((3, 4)))


def test_push_after_close_raises():
    featurizer = StreamFeaturizer(make_config("myo-passthrough"), "s9")
    featurizer.close()
    with pytest.raises(SignalError, match="stream 's9' was closed; call reset"):
        featurizer.push(0, np.zeros((3, 4)))


def test_reset_starts_afresh(rng):
    config = make_config("emg2pose-decimate")
    x = rng.standard_normal((3, 2000)).astype(np.float32)
    featurizer = StreamFeaturizer(config)
    feed(featurizer, x, [2000])
    featurizer.reset()
    again = feed(featurizer, x, [2000])
    assert_same_windows(as_pairs(again), offline_windows(x, config))
    assert featurizer.n_windows == len(again)


# -- config --------------------------------------------------------------------------------------------------


def test_hop_that_is_not_whole_samples_is_refused():
    with pytest.raises(SignalError, match=r"hop_s=0.05 s is 2.5 samples at 50 Hz; it must be a positive whole"):
        FeaturizerConfig.for_model(50.0, 50, sfreq_in=50.0, n_channels=1, hop_s=0.05)


def test_filter_cutoff_above_input_nyquist_is_refused_at_config_time():
    with pytest.raises(SignalError, match=r"highpass cutoff 150 Hz must be below Nyquist 100 Hz"):
        FeaturizerConfig(200.0, 1, 200.0, window=20, hop=10, highpass=150.0)


def test_channel_types_length_must_match():
    with pytest.raises(SignalError, match="ch_types has 2 entries but n_channels=3"):
        FeaturizerConfig(200.0, 3, 200.0, window=20, hop=10, ch_types=("emg", "emg"))


def test_config_defaults_types_and_units():
    config = FeaturizerConfig(200.0, 2, 200.0, window=20, hop=10)
    assert config.ch_types == ("emg", "emg")
    assert config.units == ("V", "V")
    assert config.hop_s == pytest.approx(0.05)


def test_samples_for():
    assert samples_for("hop_s", 0.05, 2000.0) == 100
    with pytest.raises(SignalError, match="hop_s must be a positive number of seconds, got 'x'"):
        samples_for("hop_s", "x", 200.0)  # type: ignore[arg-type]
