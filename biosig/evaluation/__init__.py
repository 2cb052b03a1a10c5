"""Evaluation: classical features and baselines, metrics, linear probes, fine-tuning, tasks and the results table.

``biosig eval table --checkpoint CKPT`` runs everything (see ``docs/evaluation.md``); the pieces are usable alone:

>>> from biosig.evaluation import td_features, classification_metrics, myo_pretraining_participants
"""

from biosig.evaluation.baselines import FeatureClassifier, align_by_energy, rotate_channel_features, rotation_augment
from biosig.evaluation.features import (
    EEG_BANDS,
    TD_FEATURES,
    band_power_names,
    band_powers,
    td_feature_names,
    td_features,
)
from biosig.evaluation.finetune import FinetuneConfig, FinetuneResult, finetune
from biosig.evaluation.metrics import (
    METRICS,
    MetricSummary,
    accuracy,
    aggregate,
    balanced_accuracy,
    classification_metrics,
    macro_f1,
    summarize,
)
from biosig.evaluation.probe import InputScale, LinearProbe, embed, input_scale_from_meta, parse_input_scale
from biosig.evaluation.protocols import (
    TASKS,
    Fold,
    MyoSplitConfig,
    ParticipantSplit,
    TaskData,
    load_eegmat_task,
    load_myo_tasks,
    myo_heldout_participants,
    myo_participant_split,
    myo_participants,
    myo_pretraining_participants,
)

__all__ = [
    "EEG_BANDS",
    "METRICS",
    "TASKS",
    "TD_FEATURES",
    "FeatureClassifier",
    "FinetuneConfig",
    "FinetuneResult",
    "Fold",
    "InputScale",
    "LinearProbe",
    "MetricSummary",
    "MyoSplitConfig",
    "ParticipantSplit",
    "TaskData",
    "accuracy",
    "aggregate",
    "align_by_energy",
    "balanced_accuracy",
    "band_power_names",
    "band_powers",
    "classification_metrics",
    "embed",
    "finetune",
    "input_scale_from_meta",
    "load_eegmat_task",
    "load_myo_tasks",
    "macro_f1",
    "myo_heldout_participants",
    "myo_participant_split",
    "myo_participants",
    "myo_pretraining_participants",
    "parse_input_scale",
    "rotate_channel_features",
    "rotation_augment",
    "summarize",
    "td_feature_names",
    "td_features",
]
