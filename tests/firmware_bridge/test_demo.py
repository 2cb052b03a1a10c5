"""``biosig demo`` end to end (a real service child process, the bundled Myo replay, live vs true labels), and
the pieces it scores with."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from biosig.io.myo import LABEL_NAMES
from firmware_bridge.base import Chunk
from firmware_bridge.demo import Score, _gesture_names
from firmware_bridge.labels import LabelTrack
from tests.service.live import REPO


def _chunk(first: int, labels: list[int]) -> Chunk:
    n = len(labels)
    return Chunk(first, np.zeros((1, n), np.float32), 0, time.time(), labels=np.array(labels))


def test_label_track_gives_the_majority_of_a_window_or_none_across_a_transition() -> None:
    track = LabelTrack({0: "rest", 7: "fist"}, keep_samples=1000)
    track.add(_chunk(0, [0] * 100))
    track.add(_chunk(100, [7] * 100))
    assert track.at(99) == "rest" and track.at(100) == "fist" and track.at(500) is None
    assert track.window(0, 100) == "rest"
    assert track.window(110, 200) == "fist"
    assert track.window(50, 150) is None  # half and half: a transition
    assert track.window(80, 180, min_fraction=0.8) == "fist"
    track.add(_chunk(200, [-1] * 100))
    assert track.window(200, 300) is None  # unlabelled


def test_myo_labels_are_scored_in_the_vocabularys_names() -> None:
    names = _gesture_names(LABEL_NAMES)
    assert names[1] == "wrist_flexion" and names[3] == "radial_deviation" and names[7] == "fist"
    assert _gesture_names({0: "open hand"}) == {0: "open_hand"}


def test_score_counts_accuracy_and_balanced_accuracy() -> None:
    s = Score()
    for live, true in [("rest", "rest")] * 8 + [("fist", "rest")] * 2 + [("fist", "fist"), ("rest", "fist")]:
        s.add(live, true)
    assert s.add("fist", None) is None and s.n == 12
    assert s.accuracy == pytest.approx(9 / 12) and s.balanced_accuracy == pytest.approx((0.8 + 0.5) / 2)


def _demo(tmp_path, *args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "biosig.cli.main", "demo", "--port", "0", "--data-dir", str(tmp_path / "demo"), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)


@pytest.mark.slow
def test_demo_streams_the_bundled_session_and_prints_live_and_true_labels(tmp_path) -> None:
    proc = _demo(tmp_path, "--duration", "70", "--speed", "10", "--every", "5")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert re.search(r"demo: dashboard  http://127\.0\.0\.1:\d+/dashboard#key=bsk_", out), out
    lines = [ln for ln in out.splitlines() if ln.startswith("  t=")]
    assert len(lines) >= 10, out
    assert all(re.search(r"live: (rest|wrist_\w+|radial_deviation|ulnar_deviation|pronation|supination|fist) ", ln)
               for ln in lines), lines  # fmt: skip
    assert "true: rest" in out and "true: wrist_flexion" in out  # 0.txt is rest; 1.txt alternates rest/flexion
    summary = re.search(r"demo: (\d+) labelled windows, accuracy ([\d.]+)%", out)
    assert summary and int(summary.group(1)) > 1000, out
    assert re.search(r"demo: uplink closed .* sent=(\d+) acked=\1 buffered=0", out), out
    assert "demo: service stopped" in out
    assert (tmp_path / "demo" / "demo.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_ctrl_c_stops_the_demo_and_its_service_cleanly(tmp_path) -> None:
    proc = _demo(tmp_path, "--speed", "4")
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("  t="):  # streaming with results
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    assert "demo: stopping" in out and "demo: service stopped" in out
    assert re.search(r"demo: uplink closed .* sent=(\d+) acked=\1 buffered=0", out), out
    time.sleep(0.5)
    serve = subprocess.run(["pgrep", "-f", f"serve --data-dir {tmp_path / 'demo'}"], capture_output=True, text=True)
    assert serve.stdout.strip() == "", "the service child must be gone"
