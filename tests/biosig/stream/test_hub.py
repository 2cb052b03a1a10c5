from __future__ import annotations

import numpy as np
import pytest

from biosig.errors import SignalError
from biosig.models import load_checkpoint
from biosig.runtime import TorchEncoder
from biosig.stream import FeaturizerConfig, StreamFeaturizer, StreamHub
from tests.biosig.runtime.helpers import make_checkpoint


class CountingEncoder(TorchEncoder):
    """A torch encoder that records the batch shape of every call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[int, ...]] = []

    def embed(self, batch, ch_types=None, units=None):
        self.calls.append(tuple(batch.shape))
        return super().embed(batch, ch_types, units)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    path = make_checkpoint(tmp_path_factory.mktemp("hub") / "tiny.pt", n_channels=8, n_times=200)
    model, meta = load_checkpoint(path)
    return CountingEncoder(model, meta["signal_spec"], name="tiny")


def myo_config(n_channels: int = 8) -> FeaturizerConfig:
    return FeaturizerConfig.for_model(200.0, 200, sfreq_in=200.0, n_channels=n_channels, hop_s=0.05, highpass=10.0)


def emg2pose_config() -> FeaturizerConfig:
    return FeaturizerConfig.for_model(200.0, 200, sfreq_in=2000.0, n_channels=16, hop_s=0.05, highpass=20.0)


def test_due_windows_of_all_streams_go_in_one_encoder_call_per_shape(encoder, rng):
    encoder.calls.clear()
    hub = StreamHub(encoder)
    for i in range(5):
        hub.add_stream(f"myo{i}", myo_config())
    hub.add_stream("hd", emg2pose_config())
    for i in range(5):
        hub.push(f"myo{i}", 0, rng.standard_normal((8, 210)).astype(np.float32))
    hub.push("hd", 0, rng.standard_normal((16, 2600)).astype(np.float32))
    n_pending = hub.pending
    results = hub.embed_pending()
    assert len(results) == n_pending
    assert hub.pending == 0
    # Two groups (8 and 16 channels): two calls, each batching every stream's due windows.
    assert sorted(encoder.calls) == [(6, 16, 200), (10, 8, 200)]
    assert all(r.embedding.shape == (16,) for r in results)


def test_batched_embedding_equals_embedding_each_window_alone(encoder, rng):
    hub = StreamHub(encoder, max_batch=3)
    for i in range(3):
        hub.add_stream(f"s{i}", myo_config())
        hub.push(f"s{i}", 0, rng.standard_normal((8, 230)).astype(np.float32))
    results = hub.embed_pending()
    assert len(results) == 3 * 4
    for r in results:
        alone = encoder.embed(r.window.data[None])[0]
        np.testing.assert_allclose(r.embedding, alone, rtol=1e-5, atol=1e-6)


def test_hub_windows_equal_a_lone_featurizer(encoder, rng):
    x = rng.standard_normal((8, 500)).astype(np.float32)
    hub = StreamHub(encoder)
    hub.add_stream("a", myo_config())
    for start in range(0, 500, 37):
        hub.push("a", start, x[:, start : start + 37])
    hub.remove_stream("a")
    lone = StreamFeaturizer(myo_config(), "a")
    expected = lone.push(0, x).windows + lone.close()
    got = hub.take_pending()
    assert [w.end for w in got] == [w.end for w in expected]
    np.testing.assert_array_equal(got[-1].data, expected[-1].data)


def test_stream_at_the_wrong_rate_is_refused(encoder):
    hub = StreamHub(encoder)
    config = FeaturizerConfig(2000.0, 8, 1000.0, window=200, hop=50)
    with pytest.raises(SignalError, match=r"emits windows at 1000 Hz but tiny expects 200 Hz"):
        hub.add_stream("x", config)


def test_window_not_a_multiple_of_patch_len_is_refused(encoder):
    hub = StreamHub(encoder)
    with pytest.raises(SignalError, match=r"emits 210-sample windows; tiny needs a multiple of 20"):
        hub.add_stream("x", FeaturizerConfig(200.0, 8, 200.0, window=210, hop=10))


def test_duplicate_and_unknown_stream_ids(encoder):
    hub = StreamHub(encoder)
    hub.add_stream("a", myo_config())
    with pytest.raises(SignalError, match="stream 'a' already exists"):
        hub.add_stream("a", myo_config())
    with pytest.raises(SignalError, match="unknown stream 'b'; open streams: 'a'"):
        hub.push("b", 0, np.zeros((8, 10)))


def test_hub_without_encoder_collects_windows_only(rng):
    hub = StreamHub()
    hub.add_stream("a", myo_config())
    hub.push("a", 0, rng.standard_normal((8, 200)))
    assert hub.pending == 1
    with pytest.raises(SignalError, match="this hub has no encoder"):
        hub.embed_pending()
    assert len(hub.take_pending()) == 1
