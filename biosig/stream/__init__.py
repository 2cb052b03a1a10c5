"""Streaming featurizer: causal filtering, resampling, an absolute-clock ring buffer, windows every hop, gaps
reported, and batching of due windows across many streams into one encoder call.

>>> from biosig.stream import FeaturizerConfig, StreamHub
>>> hub = StreamHub(encoder)                                   # any biosig.runtime.Encoder
>>> hub.add_stream("myo-1", FeaturizerConfig.for_model(200.0, 200, sfreq_in=200.0, n_channels=8))
>>> hub.push("myo-1", first_sample=0, chunk=samples)           # (8, n) in device units
>>> results = hub.embed_pending()                              # one batched encoder call for all streams
"""

from biosig.stream.featurizer import (
    FeaturizerConfig,
    Gap,
    PushResult,
    StreamFeaturizer,
    Window,
    offline_windows,
    samples_for,
)
from biosig.stream.hub import EmbeddedWindow, StreamHub, embed_windows
from biosig.stream.ring import SampleRing

__all__ = [
    "EmbeddedWindow",
    "FeaturizerConfig",
    "Gap",
    "PushResult",
    "SampleRing",
    "StreamFeaturizer",
    "StreamHub",
    "Window",
    "embed_windows",
    "offline_windows",
    "samples_for",
]
