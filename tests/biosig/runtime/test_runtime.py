from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from biosig.errors import SignalError
from biosig.export import export_checkpoint
from biosig.models import load_checkpoint
from biosig.runtime import (
    Encoder,
    InputScale,
    OnnxEncoder,
    OnnxRuntimeMissing,
    TorchEncoder,
    load_encoder,
    onnxruntime_available,
)
from tests.biosig.runtime.helpers import make_checkpoint

SCALING = {"input_scaling": {"method": "robust", "scales": {"emg": {"V": 2e-5}}}}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("runtime")
    ckpt = make_checkpoint(root / "tiny.pt", n_channels=4, n_times=100, sfreq=200.0, extra=SCALING)
    onnx_path = root / "tiny.onnx"
    export_checkpoint(ckpt, onnx_path)
    return ckpt, onnx_path


@pytest.fixture()
def windows(rng):
    return (rng.standard_normal((10, 4, 100)) * 5e-5).astype(np.float32)  # volts, like real EMG


def test_both_backends_implement_the_interface_and_agree(files, windows):
    ckpt, onnx_path = files
    onnx_enc = OnnxEncoder(onnx_path, intra_op_threads=1, max_batch=4)
    torch_enc = TorchEncoder.from_checkpoint(ckpt)
    for enc in (onnx_enc, torch_enc):
        assert isinstance(enc, Encoder)
        assert enc.signal_spec.n_times == 100
        assert enc.embed_dim == 16
        assert enc.time_multiple == 20
    a = onnx_enc.embed(windows)
    b = torch_enc.embed(windows)
    assert a.shape == (10, 16)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert onnx_enc.backend == "onnxruntime"
    assert torch_enc.backend == "torch"


def test_batches_are_split_at_max_batch_without_changing_results(files, windows):
    _, onnx_path = files
    small = OnnxEncoder(onnx_path, max_batch=3, warmup=())
    large = OnnxEncoder(onnx_path, max_batch=64, warmup=())
    np.testing.assert_allclose(small.embed(windows), large.embed(windows), atol=1e-6)
    np.testing.assert_allclose(small.embed(windows[4:5])[0], large.embed(windows)[4], atol=1e-6)


def test_checkpoint_input_scaling_is_applied(files, windows):
    ckpt, onnx_path = files
    model, meta = load_checkpoint(ckpt)
    expected = model(torch.from_numpy(windows / np.float32(2e-5))).detach().numpy()
    unscaled = model(torch.from_numpy(windows)).detach().numpy()
    assert np.abs(expected - unscaled).max() > 1e-2  # volts without the scale drown in RevIN's eps
    for enc in (OnnxEncoder(onnx_path, warmup=()), TorchEncoder.from_checkpoint(ckpt, warmup=())):
        assert enc.input_scale.divisor("emg", "V") == pytest.approx(2e-5)
        np.testing.assert_allclose(enc.embed(windows), expected, atol=2e-5)


def test_input_scale_formats():
    training = InputScale.from_meta({"extra": SCALING})
    assert training.divisor("emg", "V") == pytest.approx(2e-5)
    with pytest.raises(
        ValueError, match=r"no input scale for a 'eeg' channel in 'V'; this model was trained on emg in V"
    ):
        training.divisor("eeg", "V")
    multiplier = InputScale.from_meta({"extra": {"input_scale": {"eeg": 1e6}}})
    assert multiplier.divisor("eeg", "V") == pytest.approx(1e-6)
    assert InputScale.from_meta({"extra": {"scale": 100.0}}).divisor("emg", "a.u.") == pytest.approx(0.01)
    assert InputScale.from_meta({"extra": {}}).is_identity
    assert InputScale.from_meta({"extra": {"input_scaling": {"method": "none", "scales": {}}}}).is_identity
    with pytest.raises(ValueError, match=r"must be a positive finite number, got -1"):
        InputScale.from_meta({"extra": {"input_scale": -1}})


def test_any_channel_count_of_a_single_type_model(files, rng):
    _, onnx_path = files
    enc = OnnxEncoder(onnx_path, warmup=())
    assert enc.embed(rng.standard_normal((2, 7, 100)).astype(np.float32)).shape == (2, 16)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((4, 100), r"batch must have shape \(batch, n_channels, n_times\), got shape \(4, 100\)"),
        ((2, 4, 90), r"windows of 90 samples are not a positive multiple of 20 for biofame_tiny"),
        ((0, 4, 100), r"batch needs at least one window and one channel"),
    ],
)
def test_bad_batches_are_refused(files, shape, message):
    _, onnx_path = files
    enc = OnnxEncoder(onnx_path, warmup=())
    with pytest.raises(SignalError, match=message):
        enc.embed(np.zeros(shape, dtype=np.float32))


def test_nan_batch_is_refused(files):
    _, onnx_path = files
    x = np.zeros((1, 4, 100), dtype=np.float32)
    x[0, 2, 5] = np.inf
    with pytest.raises(SignalError, match="batch contains NaN or infinite samples"):
        OnnxEncoder(onnx_path, warmup=()).embed(x)


def test_session_threads_and_warmup(files):
    _, onnx_path = files
    enc = OnnxEncoder(onnx_path, intra_op_threads=2, inter_op_threads=1, warmup=(1, 8))
    assert enc.threads == (2, 1)
    assert enc.warmup_s > 0
    with pytest.raises(ValueError, match="intra_op_threads must be a non-negative int"):
        OnnxEncoder(onnx_path, intra_op_threads=-1)


# -- loader and the torch fallback ---------------------------------------------------------------------------


@pytest.fixture()
def no_onnxruntime(monkeypatch):
    """Make `import onnxruntime` fail as it does where the package is not installed."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)


def test_load_encoder_picks_the_backend_from_the_file(files):
    ckpt, onnx_path = files
    assert load_encoder(onnx_path).backend == "onnxruntime"
    assert load_encoder(ckpt).backend == "torch"
    assert onnxruntime_available()


def test_fallback_to_torch_when_onnxruntime_is_missing(files, no_onnxruntime, windows, caplog):
    ckpt, onnx_path = files
    assert not onnxruntime_available()
    enc = load_encoder(onnx_path, fallback_checkpoint=ckpt)
    assert enc.backend == "torch"
    assert "falling back to the torch checkpoint" in caplog.text
    assert enc.embed(windows).shape == (10, 16)


def test_missing_onnxruntime_without_fallback_says_how_to_fix_it(files, no_onnxruntime):
    _, onnx_path = files
    with pytest.raises(OnnxRuntimeMissing, match=r"onnxruntime is not installed .*; or pass fallback_checkpoint="):
        load_encoder(onnx_path)


def test_forced_onnx_backend_does_not_fall_back(files, no_onnxruntime):
    ckpt, onnx_path = files
    with pytest.raises(OnnxRuntimeMissing, match=r"pip install 'biosig\[service\]'"):
        load_encoder(onnx_path, backend="onnx", fallback_checkpoint=ckpt)


def test_loader_argument_errors(files, tmp_path):
    ckpt, onnx_path = files
    with pytest.raises(ValueError, match=r"backend must be one of \('auto', 'onnx', 'torch'\), got 'tf'"):
        load_encoder(onnx_path, backend="tf")
    with pytest.raises(ValueError, match="backend='torch' needs a torch checkpoint, got an ONNX file"):
        load_encoder(onnx_path, backend="torch")
    with pytest.raises(ValueError, match="backend='onnx' needs an .onnx file"):
        load_encoder(ckpt, backend="onnx")
    with pytest.raises(FileNotFoundError, match="no such encoder file"):
        load_encoder(tmp_path / "missing.onnx")
