"""Training configs: TOML loading, --set overrides with type coercion, errors naming the valid keys, bundled configs."""

from __future__ import annotations

import json

import pytest

from biosig.training.config import (
    CONFIG_DIR,
    ConfigError,
    DataConfig,
    TrainConfig,
    apply_set,
    bundled_config,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config_json,
)


def write(tmp_path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_released_optimiser():
    config = load_config(None)
    assert config == TrainConfig()
    assert (config.optim.lr, config.optim.weight_decay, config.optim.batch_size) == (1e-3, 1e-4, 128)
    assert config.model.name == "biofame_small" and dict(config.model.overrides) == {}


def test_toml_sections_and_model_overrides(tmp_path):
    path = write(
        tmp_path,
        '[model]\nname = "biofame_tiny"\nd_model = 32\n[data]\ndatasets = ["eegmat"]\ninclude = [12345]\n'
        "[optim]\nlr = 3e-4\nbetas = [0.8, 0.9]\n[run]\nseed = 7\n",
    )
    config = load_config(path)
    assert config.model.name == "biofame_tiny"
    assert dict(config.model.overrides) == {"d_model": 32}
    assert config.data.datasets == ("eegmat",)
    assert config.data.include == ("12345",)  # TOML integer ids become strings
    assert config.optim.lr == 3e-4 and config.optim.betas == (0.8, 0.9)
    assert config.run.seed == 7


@pytest.mark.parametrize(
    ("assignment", "section", "field", "expected"),
    [
        ("optim.lr=3e-4", "optim", "lr", 3e-4),
        ("optim.lr=1", "optim", "lr", 1.0),  # an int where a float is declared
        ("optim.epochs=3", "optim", "epochs", 3),
        ("run.progress=false", "run", "progress", False),
        ("data.include=12345", "data", "include", ("12345",)),  # a scalar where a tuple is declared
        ('data.exclude=["a", "b"]', "data", "exclude", ("a", "b")),
        ("data.datasets=myo", "data", "datasets", ("myo",)),  # bare text
        ("data.data_dir=/tmp/x", "data", "data_dir", "/tmp/x"),
    ],
)
def test_set_coerces_to_the_field_type(assignment, section, field, expected):
    config = load_config(None, [assignment])
    assert getattr(getattr(config, section), field) == expected


def test_set_model_field_is_coerced_with_the_model_config_types():
    config = load_config(None, ["model.dropout=0", "model.name=biofame_tiny", "model.anchor_max_hz=12"])
    assert config.model.name == "biofame_tiny"
    assert config.model.overrides == {"dropout": 0.0, "anchor_max_hz": 12.0}
    assert isinstance(config.model.overrides["dropout"], float)


def test_later_set_wins():
    assert load_config(None, ["optim.lr=0.1", "optim.lr=0.2"]).optim.lr == 0.2


def test_unknown_section_names_the_valid_ones(tmp_path):
    with pytest.raises(
        ConfigError, match=r"unknown section\(s\) \['optimiser'\]; valid sections: model, data, optim, run"
    ):
        load_config(write(tmp_path, "[optimiser]\nlr = 1\n"))


def test_unknown_field_names_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['lrr'\] in \[optim\]; valid fields: lr, weight_decay"):
        load_config(write(tmp_path, "[optim]\nlrr = 1\n"))


def test_unknown_model_field_names_the_model_fields():
    with pytest.raises(
        ConfigError, match=r"unknown field\(s\) \['d_modle'\] in \[model\] for 'biofame_small'; .*d_model"
    ):
        load_config(None, ["model.d_modle=32"])


def test_unknown_model_name_lists_the_registered_models():
    with pytest.raises(ConfigError, match=r"model.name: unknown model 'biofame_huge'; available: .*biofame_tiny"):
        load_config(None, ["model.name=biofame_huge"])


def test_set_without_equals_sign():
    with pytest.raises(ConfigError, match=r"--set expects section.field=value \(e.g. optim.lr=3e-4\), got 'optim.lr'"):
        load_config(None, ["optim.lr"])


def test_set_unknown_section():
    with pytest.raises(ConfigError, match=r"unknown section 'optm'; valid sections: model, data, optim, run"):
        load_config(None, ["optm.lr=1"])


def test_wrong_type_names_field_and_value():
    with pytest.raises(ConfigError, match=r"optim.epochs must be an integer, got 'many'"):
        load_config(None, ["optim.epochs=many"])


def test_bool_field_refuses_a_number():
    with pytest.raises(ConfigError, match=r"run.progress must be true or false, got 1"):
        load_config(None, ["run.progress=1"])


def test_value_validation_runs_after_coercion():
    with pytest.raises(ConfigError, match=r"data.modality_dropout must be in \[0, 1\), got 1.5"):
        load_config(None, ["data.modality_dropout=1.5"])


def test_include_and_exclude_must_not_overlap():
    with pytest.raises(ConfigError, match=r"data.include and data.exclude both name \['7'\]"):
        DataConfig(include=("7",), exclude=("7",))


def test_missing_file_lists_the_bundled_configs(tmp_path):
    with pytest.raises(ConfigError, match=r"config file .*nope.toml does not exist \(bundled configs by name: .*tiny"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"c.toml: not valid TOML"):
        load_config(write(tmp_path, "[optim\n"))


def test_bundled_config_by_name():
    assert bundled_config("tiny") == CONFIG_DIR / "tiny.toml"
    assert load_config("tiny").model.name == "biofame_tiny"


def test_unknown_bundled_config():
    with pytest.raises(
        ConfigError,
        match=r"no bundled config 'huge'; shipped configs: biofame_multimodal, biofame_myo, cpep_emg2pose, cpep_emg2pose_biofame, cpep_myo, cpep_tiny, nots_multimodal, nots_myo, tiny",
    ):
        bundled_config("huge")


@pytest.mark.parametrize("name", ["tiny", "biofame_myo", "biofame_multimodal"])
def test_every_bundled_config_loads(name):
    config = load_config(name)
    assert config.model.name.startswith("biofame")


def test_bundled_configs_say_what_the_task_asks():
    myo = load_config("biofame_myo")
    assert (myo.data.datasets, myo.data.sfreq, myo.data.window_s) == (("myo",), 200.0, 1.0)
    multi = load_config("biofame_multimodal")
    assert multi.data.sfreq == 100.0 and multi.data.modality_dropout > 0
    assert {"eegmat", "physionet-wfdb", "neurokit"} <= set(multi.data.datasets)


def test_dict_round_trip_and_json(tmp_path):
    config = load_config("biofame_multimodal", ["data.exclude=eegmat:01"])
    raw = config_to_dict(config)
    assert config_from_dict(json.loads(json.dumps(raw))) == config
    path = save_config_json(config, tmp_path / "run" / "config.json", resolved={"world_size": 2})
    written = json.loads(path.read_text())
    assert written["data"]["exclude"] == ["eegmat:01"]
    assert written["resolved"] == {"world_size": 2}
    assert written["model"]["overrides"]["decoder_mode"] == "shared"


def test_apply_set_does_not_mutate_its_input():
    raw = {"optim": {"lr": 1.0}}
    changed = apply_set(raw, "optim.lr=2")
    assert raw == {"optim": {"lr": 1.0}} and changed == {"optim": {"lr": 2}}
