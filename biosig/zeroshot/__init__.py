"""Zero-shot gesture labels: pose-reference vocabularies and the cosine-retrieval head over aligned embeddings.

See docs/zeroshot.md. The encoders that produce the aligned EMG and pose embeddings come from CPEP training.
"""

from biosig.zeroshot.head import UNKNOWN, GesturePrediction, PoseEncoder, ZeroShotHead, knn_vote, l2_normalize
from biosig.zeroshot.vocabulary import MYO_GESTURES, GestureVocabulary, PoseReference, PoseSpec, VocabularyError

__all__ = [
    "MYO_GESTURES",
    "UNKNOWN",
    "GesturePrediction",
    "GestureVocabulary",
    "PoseEncoder",
    "PoseReference",
    "PoseSpec",
    "VocabularyError",
    "ZeroShotHead",
    "knn_vote",
    "l2_normalize",
]
