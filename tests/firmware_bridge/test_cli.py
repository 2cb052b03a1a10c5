"""``biosig bridge`` end to end: a real process streaming to the reference server; flags; Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import biosig.io
from biosig.cli import main as cli_main

from .protocol_server import ServerProcess

MYO = Path(__file__).resolve().parents[2] / "biosig" / "assets" / "myo" / "12345-1"
KEY = "cli-key"
BIOSIG = [sys.executable, "-m", "biosig.cli.main"]


@pytest.fixture()
def server(tmp_path):
    srv = ServerProcess(tmp_path / "store", KEY, "--hop", "10").start()
    yield srv
    srv.stop()


def test_the_bridge_command_is_contributed_through_the_entry_point_group():
    assert "firmware_bridge.cli" in cli_main.command_modules()


def test_replay_to_the_service_with_status_and_results_with_true_labels(server, tmp_path):
    results = tmp_path / "results.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "BIOSIG_API_KEY"}
    proc = subprocess.run(
        [*BIOSIG, "bridge", "--source", "replay", "--path", str(MYO), "--index", "1", "--speed", "25",
         "--duration", "10", "--to", server.url, "--key", KEY, "--stream", "cli-1", "--status-every", "0.1",
         "--results-out", str(results)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "biosig bridge: replay 8 ch @ 200 Hz (int8 x 0.0078125) -> ws://127.0.0.1:" in err
    assert re.search(r"device: [\d.]+ Hz samples=\d+ gaps=0 \| streaming +rate=[\d.]+Hz sent=\d+ acked=\d+", err)
    assert re.search(r"\| label=(active|rest) \(true: (rest|flexion)\)", err)
    assert "service totals {'frames': 200, 'samples': 2000," in err
    counts = np.rint(biosig.io.read(MYO)[1].data[:, :2000] * 128).astype(np.int8)
    frames = server.frames("cli-1")
    np.testing.assert_array_equal(np.concatenate([f.raw for f in frames], axis=1), counts)
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(rows) > 150 and {r["true_label"] for r in rows} <= {"rest", "flexion"}
    assert rows[0]["end_sample"] == 200 and rows[0]["label"] in ("active", "rest")


def test_ctrl_c_flushes_ends_the_stream_and_exits_0(server):
    proc = subprocess.Popen(
        [*BIOSIG, "bridge", "--source", "synthetic", "--profile", "myo", "--to", server.url, "--stream", "live-1",
         "--status-every", "0"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "BIOSIG_API_KEY": KEY},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (server.store / "live-1.bsig").exists() or (server.store / "live-1.bsig").stat().st_size < 2000:
        assert time.monotonic() < deadline and proc.poll() is None, "the bridge did not stream"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopping (Ctrl-C again to give up at once)" in err
    sent = int(re.search(r"device chunks=\d+ samples=(\d+)", err).group(1))
    assert server.meta("live-1")["ended"] is True
    frames = server.frames("live-1")
    assert sum(f.n_samples for f in frames) == sent  # everything the device delivered reached the service


def test_a_local_run_needs_no_service(capsys):
    code = cli_main.main(["bridge", "--source", "synthetic", "--profile", "myo", "--duration", "0.5", "--speed",
                          "inf", "--status-every", "0"])  # fmt: skip
    assert code == 0
    assert "device chunks=25 samples=100 gaps=0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--source", "replay"], "--source replay needs --path PATH"),
        (["--source", "serial"], "--source serial needs --port PORT"),
        (["--source", "lsl"], "--source lsl needs --lsl-name, --lsl-type or --lsl-source-id"),
        (
            ["--source", "brainflow", "--board-param", "serial_port"],
            "--board-param must be KEY=VALUE, got 'serial_port'",
        ),
        (
            ["--source", "synthetic", "--to", "ws://127.0.0.1:9/v1/stream"],
            r"--to needs an API key: --key KEY or \$BIOSIG_API_KEY",
        ),
        (["--source", "synthetic", "--duration", "-1"], "--duration > 0"),
    ],
)
def test_bad_flags_say_what_is_missing(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("BIOSIG_API_KEY", raising=False)
    assert cli_main.main(["bridge", *argv]) == 1
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.slow
def test_firmware_over_a_damaged_serial_link_to_the_service(server, tmp_path):
    """emulator -> pty -> serial bridge -> uplink -> server: damaged packets counted, losses stored as gaps."""
    from itertools import islice

    from firmware_bridge.emulator import EmulatorConfig, packet_fates

    args = ["--profile", "myo", "--samples-per-packet", "10", "--packets", "300", "--speed", "20", "--seed", "3",
            "--corrupt", "0.03", "--drop-packets", "0.03"]  # fmt: skip
    config = EmulatorConfig("myo", 3, 10, 300, 20.0, 0.03, 0.0, 0.03)
    fates = [f for f, _ in islice(packet_fates(config), 300)]
    last_ok = max(i for i, f in enumerate(fates) if f == "ok")
    emu = subprocess.Popen([sys.executable, "-m", "firmware_bridge.emulator", *args], stdout=subprocess.PIPE, text=True)
    try:
        pty = emu.stdout.readline().split()[1]
        proc = subprocess.run(
            [*BIOSIG, "bridge", "--source", "serial", "--port", pty, "--to", server.url, "--key", KEY, "--stream",
             "ser-1", "--duration", str((last_ok * 10 + 1) / 200), "--status-every", "0"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        emu.terminate()
        emu.wait(10)
        emu.stdout.close()
    assert proc.returncode == 0, proc.stderr
    corrupted = fates[:last_ok].count("corrupt")
    assert corrupted > 3 and fates[:last_ok].count("dropped") > 3
    assert f" corrupted={corrupted} " in proc.stderr
    lost = [i for i in range(last_ok) if fates[i] != "ok"]
    runs = [
        (i * 10, next(j for j in range(i, 300) if fates[j] == "ok") * 10)
        for i in lost
        if i == 0 or fates[i - 1] == "ok"
    ]
    assert [tuple(g) for g in server.meta("ser-1")["gaps"]] == runs
    frames = server.frames("ser-1")
    assert sum(f.n_samples for f in frames) == 10 * (last_ok + 1 - len(lost))
