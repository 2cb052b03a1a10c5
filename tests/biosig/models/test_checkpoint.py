"""Self-describing checkpoints: round trip, weights-only content, and a clear error for every bad file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import biosig
from biosig.models import CheckpointError, EncoderClassifier, SignalSpec, create_model, load_checkpoint, save_checkpoint
from biosig.models.checkpoint import FORMAT_VERSION, current_code_version
from biosig.signals import SignalInfo

torch.set_num_threads(1)

SPEC = SignalSpec(sfreq=100.0, n_times=200, ch_types=("eeg", "eog"))
TRAINING = {"data": "sleep-edf-20 (synthetic twin)", "command": "biosig train biofame", "seed": 0, "metrics": {}}


def _save(path: Path, **changes) -> Path:
    model = changes.pop("model", None) or create_model("biofame_tiny")
    kwargs = {"arch": "biofame_tiny", "signal_spec": SPEC, "training": TRAINING} | changes
    kwargs.setdefault("config", getattr(model, "config", None))
    return save_checkpoint(path, model, **kwargs)


def test_round_trip_rebuilds_the_same_model_and_metadata(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("biofame_tiny", d_model=8, fusion_heads=2)
    training = {
        "data": ["a.edf", tmp_path / "b.edf"],
        "command": "biosig train biofame --set model.d_model=8",
        "seed": np.int64(7),
        "metrics": {"val_loss": np.float32(0.25), "curve": np.array([1.0, 0.5])},
        "epochs": 3,
    }
    path = save_checkpoint(
        tmp_path / "run" / "model.pt",
        model,
        arch="biofame_tiny",
        config=model.config,
        signal_spec=SPEC,
        training=training,
        extra={"note": ("tuple", 1)},
    )
    loaded, meta = load_checkpoint(path)
    assert not loaded.training  # eval mode
    x = torch.randn(2, 2, 200)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)
    assert meta["arch"] == "biofame_tiny"
    assert meta["config"] == dataclasses.asdict(model.config)
    assert meta["signal_spec"] == SPEC and meta["signal_spec"].window_s == 2.0
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["training"]["seed"] == 7 and meta["training"]["data"] == ["a.edf", str(tmp_path / "b.edf")]
    assert meta["training"]["metrics"]["val_loss"] == 0.25
    assert torch.equal(meta["training"]["metrics"]["curve"], torch.tensor([1.0, 0.5], dtype=torch.float64))
    assert meta["training"]["epochs"] == 3
    assert meta["extra"] == {"note": ("tuple", 1)}
    assert meta["code_version"]["biosig"] == biosig.__version__
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_file_holds_only_weights_only_content(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "biosig-checkpoint"
    sections = {"arch", "config", "state_dict", "signal_spec", "training", "code_version", "extra"}
    assert set(payload) == sections | {"format", "format_version"}
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())


def test_code_version_names_the_package_and_a_commit_when_in_git() -> None:
    version = current_code_version()
    assert version["biosig"] == biosig.__version__
    commit = version["git_commit"]
    assert commit is None or (len(commit) == 40 and int(commit, 16) >= 0)


def test_saving_over_an_existing_checkpoint_replaces_it(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.pt")
    _save(path, training=TRAINING | {"seed": 1})
    assert load_checkpoint(path)[1]["training"]["seed"] == 1


# ---------------------------------------------------------------------------------------------------------------------
# Load errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nope.pt: no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match=r"bad.pt: cannot be read as a checkpoint; expected a file written by"):
        load_checkpoint(path)


def test_truncated_file(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.pt")
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match=r"m.pt: cannot be read as a checkpoint"):
        load_checkpoint(path)


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "code.pt"
    torch.save({"format": "biosig-checkpoint", "obj": SPEC}, path)  # a dataclass needs unpickling code
    with pytest.raises(CheckpointError, match=r"code.pt: cannot be read as a checkpoint.*got UnpicklingError"):
        load_checkpoint(path)


def test_not_a_biosig_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"model": {}}, path)
    with pytest.raises(
        CheckpointError, match=r"other.pt: not a biosig checkpoint; expected format 'biosig-checkpoint'"
    ):
        load_checkpoint(path)


def _rewrite(path: Path, **changes) -> None:
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


def test_newer_format_version(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.pt")
    _rewrite(path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(CheckpointError, match=rf"unsupported checkpoint format version .* got {FORMAT_VERSION + 1}"):
        load_checkpoint(path)


def test_unknown_architecture(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.pt")
    _rewrite(path, arch="transformer_xxl")
    with pytest.raises(CheckpointError, match=r"unknown architecture 'transformer_xxl'; expected one of biofame_"):
        load_checkpoint(path)


def test_config_from_another_version(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    _rewrite(path, config=payload["config"] | {"n_layers": 3})
    with pytest.raises(CheckpointError, match=r"its config does not fit this version of 'biofame_tiny'.*'n_layers'"):
        load_checkpoint(path)


def test_weights_that_do_not_fit(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    state = payload["state_dict"]
    state["patch_embed.proj.weight"] = torch.zeros(3, 3)
    _rewrite(path, state_dict=state)
    with pytest.raises(CheckpointError, match=r"its weights do not fit 'biofame_tiny'"):
        load_checkpoint(path)


def test_missing_section(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    del payload["signal_spec"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"m.pt: checkpoint lacks signal_spec"):
        load_checkpoint(path)


# ---------------------------------------------------------------------------------------------------------------------
# Save errors


def test_save_unknown_arch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown model 'biofame_xl'; available: "):
        _save(tmp_path / "m.pt", arch="biofame_xl")


def test_save_config_that_is_not_the_models(tmp_path: Path) -> None:
    model = create_model("biofame_tiny")
    with pytest.raises(ValueError, match=r"config does not match model.config"):
        _save(tmp_path / "m.pt", model=model, config=dataclasses.replace(model.config, d_model=8, fusion_heads=2))


def test_save_model_the_registry_cannot_rebuild(tmp_path: Path) -> None:
    wrapped = EncoderClassifier(create_model("biofame_tiny"), n_classes=2)
    with pytest.raises(ValueError, match=r"create_model\('biofame_tiny', \*\*config\) builds different weights"):
        _save(tmp_path / "m.pt", model=wrapped, config=wrapped.encoder.config)


def test_save_sfreq_disagreeing_with_config(tmp_path: Path) -> None:
    spec = dataclasses.replace(SPEC, sfreq=2000.0)
    with pytest.raises(ValueError, match=r"signal_spec.sfreq=2000.0 Hz differs from the model config's sfreq=100.0"):
        _save(tmp_path / "m.pt", signal_spec=spec)


def test_save_incomplete_training_record(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"training is missing key\(s\) command, seed"):
        _save(tmp_path / "m.pt", training={"data": "x", "metrics": {}})


def test_save_unsupported_value(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"extra\['ids'\] holds a set; checkpoints store only"):
        _save(tmp_path / "m.pt", extra={"ids": {1, 2}})
    assert list(tmp_path.iterdir()) == []  # nothing written


# ---------------------------------------------------------------------------------------------------------------------
# SignalSpec


def test_signal_spec_from_info_and_dict() -> None:
    info = SignalInfo.uniform(3, 2000.0, "emg")
    spec = SignalSpec.from_info(info, 400)
    assert spec.units == ("V", "V", "V") and spec.ch_names == ("emg0", "emg1", "emg2")
    assert spec.window_s == 0.2
    assert SignalSpec(**spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sfreq": -1.0}, r"sfreq must be a positive finite number of Hz, got -1.0"),
        ({"n_times": 0}, r"n_times must be a positive int \(samples per window\), got 0"),
        ({"ch_types": ("emg", "sonar")}, r"unknown channel type\(s\) \['sonar'\]"),
        ({"ch_types": "emg"}, r"ch_types must be a sequence of strings, got 'emg'"),
        ({"units": ("V",)}, r"units has 1 entries but ch_types has 2"),
    ],
)
def test_signal_spec_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SignalSpec(**({"sfreq": 100.0, "n_times": 200, "ch_types": ("eeg", "eog")} | kwargs))
