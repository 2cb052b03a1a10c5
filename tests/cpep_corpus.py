"""A tiny synthetic emg2pose corpus for CPEP tests (seconds to write): 3 users (one held out), right hand,
one seen stage and the unseen "Signs" stage, 12 s per file."""

from __future__ import annotations

from pathlib import Path

STAGES = {"HandOpenClose": ("fist", "open_hand"), "Signs": ("point", "thumbs_up", "peace", "ok")}
UNSEEN = ("point", "thumbs_up", "peace", "ok")


def write_tiny_corpus(root: Path) -> Path:
    from biosig.synth.hand import write_corpus

    write_corpus(root, n_users=3, stages=STAGES, sides=("right",), seed=0, held_out_users=1,
                 unseen_gestures=UNSEEN, progress=False, duration_s=12.0)  # fmt: skip
    return root
