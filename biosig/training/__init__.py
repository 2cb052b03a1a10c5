"""Pretraining pipeline: TOML configs, windowed datasets with input scaling, the loop (DDP, resume), checkpoints.

>>> from biosig.training import load_config, train
>>> result = train(load_config("biosig/assets/configs/tiny.toml"), out_dir="runs/tiny")  # doctest: +SKIP

``biosig train biofame --config FILE`` is the command-line front end; ``docs/training.md`` describes the files a
run writes and how to resume or run under ``torchrun``.
"""

from biosig.training.config import (
    CONFIG_DIR,
    ConfigError,
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    bundled_config,
    config_from_dict,
    config_to_dict,
    load_config,
)
from biosig.training.loop import TrainResult, train
from biosig.training.scaling import InputScaling

__all__ = [
    "CONFIG_DIR",
    "ConfigError",
    "DataConfig",
    "InputScaling",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "TrainResult",
    "bundled_config",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "train",
]
