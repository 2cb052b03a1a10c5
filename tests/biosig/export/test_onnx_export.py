from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from biosig.cli.main import main
from biosig.datasets.catalog import bundled_myo_session
from biosig.export import (
    DFTFreqFilter,
    ExportError,
    ParityReport,
    compare,
    export_checkpoint,
    fft_path_parity,
    make_exportable,
    random_cases,
)
from biosig.models import SignalSpec, create_model, load_checkpoint
from biosig.models.layers import FreqFilter
from biosig.runtime import EncoderMetadata, MetadataError
from tests.biosig.runtime.helpers import make_checkpoint

SCALING = {"input_scaling": {"method": "robust", "scales": {"emg": {"a.u.": 0.05}}}}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """biofame_tiny for 8 Myo channels (a.u., with a recorded input scale), exported with the real-data check."""
    root = tmp_path_factory.mktemp("export")
    ckpt = make_checkpoint(root / "tiny.pt", n_channels=8, n_times=200, extra=SCALING)
    model, meta = load_checkpoint(ckpt)
    spec = meta["signal_spec"]
    meta["signal_spec"] = SignalSpec(spec.sfreq, spec.n_times, spec.ch_types, ("a.u.",) * 8)
    from biosig.export import export_model

    result = export_model(model, meta, root / "tiny.onnx", real_data=bundled_myo_session())
    return ckpt, model, result


# -- the DFT-matmul filter against torch.fft ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["pool", "self", "anchored"])
@pytest.mark.parametrize("n", [1, 2, 7, 10, 64])
def test_dft_filter_equals_fft_filter(mode, n):
    torch.manual_seed(0)
    source = FreqFilter(16, mode, heads=4, anchor_count=8, anchor_max_hz=5.0)
    with torch.no_grad():
        source.complex_weight.mul_(50.0)  # gains of order 1, so a wrong bin weight would show
    x = torch.randn(3, n, 16)
    expected = source(x, token_rate=10.0)
    got = DFTFreqFilter(source)(x, token_rate=10.0)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("arch", ["biofame_tiny", "biofame_small", "biofame_anchored"])
def test_exportable_model_equals_fft_model(arch):
    torch.manual_seed(1)
    model = create_model(arch, sfreq=200.0).eval()
    assert fft_path_parity(model, torch.randn(2, 5, 400)) < 1e-5
    exportable = make_exportable(model)
    assert not any(isinstance(m, FreqFilter) for m in exportable.modules())
    assert any(isinstance(m, FreqFilter) for m in model.modules())  # the original is left alone


# -- export, metadata, parity ---------------------------------------------------------------------------------


def test_export_parity_on_random_and_real_inputs(exported):
    _, _, result = exported
    names = [c.name for c in result.parity.cases]
    assert any(n.startswith("real 12345-1") for n in names)
    assert {"random b=1", "random b=8", "random more channels", "random longer window"} <= set(names)
    assert result.parity.passed
    assert 0 < result.parity.max_abs_diff < 1e-4
    assert result.fft_path_max_abs_diff < 1e-5


def test_onnx_file_carries_the_signal_spec_and_scaling(exported):
    _, _, result = exported
    proto = onnx.load(result.path)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["biosig.signal_spec"]) == {
        "sfreq": 200.0,
        "n_times": 200,
        "ch_types": ["emg"] * 8,
        "units": ["a.u."] * 8,
        "ch_names": [],
    }
    meta = EncoderMetadata.from_props(props)
    assert meta.arch == "biofame_tiny"
    assert meta.time_multiple == 20
    assert meta.embed_dim == 16
    assert meta.input_scale.divisor("emg", "a.u.") == pytest.approx(0.05)
    assert meta.dynamic_axes["x"] == {"0": "batch", "1": "channels", "2": "time"}
    assert json.loads(props["biosig.parity"])["passed"] is True
    assert props["biosig.fft_path"] == "dft-matmul"


def test_exported_graph_accepts_other_batch_channel_and_time_sizes(exported):
    _, model, result = exported
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).standard_normal((5, 3, 140)).astype(np.float32)
    got = session.run(None, {"x": x})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert got.shape == (5, 16)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_parity_failure_is_detected():
    spec = SignalSpec(200.0, 40, ("emg",) * 2)
    model = create_model("biofame_tiny", sfreq=200.0).eval()
    cases = random_cases(spec, time_multiple=20)

    def off_by_a_little(x):
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy() + 1e-3

    report = compare(model, off_by_a_little, cases, atol=1e-4)
    assert isinstance(report, ParityReport)
    assert not report.passed
    assert report.max_abs_diff == pytest.approx(1e-3, rel=1e-2)
    assert "FAIL: max |diff| 1.000e-03" in report.format()


def test_export_refuses_to_write_when_parity_fails(tmp_path):
    ckpt = make_checkpoint(tmp_path / "tiny.pt", n_channels=2, n_times=40)
    with pytest.raises(ExportError, match="does not match torch within atol=1e-30"):
        export_checkpoint(ckpt, tmp_path / "m.onnx", atol=1e-30)
    assert not (tmp_path / "m.onnx").exists()


def test_export_refuses_old_opset(tmp_path):
    ckpt = make_checkpoint(tmp_path / "tiny.pt", n_channels=2, n_times=40)
    with pytest.raises(ExportError, match="opset must be an int >= 17"):
        export_checkpoint(ckpt, tmp_path / "m.onnx", opset=13)


def test_metadata_of_a_foreign_onnx_file_is_refused():
    with pytest.raises(MetadataError, match="not a biosig encoder export"):
        EncoderMetadata.from_props({"producer": "someone"}, where="x.onnx")


# -- CLI -----------------------------------------------------------------------------------------------------


def test_cli_export_onnx(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "tiny.pt", n_channels=8, n_times=200)
    out = tmp_path / "tiny.onnx"
    assert main(["export", "onnx", str(ckpt), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True
    assert report["max_abs_diff"] < 1e-4
    assert out.is_file()
    # A second export to the same path needs --overwrite.
    assert main(["export", "onnx", str(ckpt), "--out", str(out)]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err


def test_cli_export_requires_onnx_suffix(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "tiny.pt", n_channels=2, n_times=40)
    assert main(["export", "onnx", str(ckpt), "--out", str(tmp_path / "m.bin")]) == 1
    assert "--out must end in .onnx, got" in capsys.readouterr().err
