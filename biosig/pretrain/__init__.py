"""Self-supervised pretraining objectives that share one tokenizer + Transformer backbone (NoTS and its baselines).

Submodules:

* :mod:`biosig.pretrain.degrade` the degradation operators that build NoTS's sequence of simplified variants;
* :mod:`biosig.pretrain.objectives` masked autoencoding and next-period prediction on the NoTS backbone;
* :mod:`biosig.pretrain.adaptors` channel adaptor, deep prompt tuning and full fine-tuning of a pretrained NoTS;
* :mod:`biosig.pretrain.regression_eval` the frozen-encoder feature-regression evaluation of the NoTS paper.

Only the degradation operators are imported here: :mod:`biosig.models.nots` depends on them, and the other
submodules depend on :mod:`biosig.models`, so importing them eagerly would be circular.
"""

from biosig.pretrain.degrade import DEGRADATIONS, Degradation, box_kernel, degradation_strengths, sinc_kernel

__all__ = ["DEGRADATIONS", "Degradation", "box_kernel", "degradation_strengths", "sinc_kernel"]
