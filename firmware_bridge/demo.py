"""``biosig demo``: the service with its bundled models, a device stream into it, live labels next to the truth.

What it does, in order:

1. makes (or reuses) an API key for the tenant ``demo`` in the demo's data directory (``biosig keys create``);
2. starts ``biosig serve`` on that directory as a child process and waits until ``/readyz`` says ready (the first
   start exports the bundled checkpoints to ONNX, a few seconds);
3. prints the dashboard's address (the key rides in the URL fragment, which browsers never send to a server);
4. streams a device through the uplink -- by default a replay of the real Myo session bundled with biosig, at
   real time and in a loop; ``--source synthetic`` streams the paired sEMG generator instead -- and prints,
   for every result, the live gesture next to the recording's true gesture with a running accuracy;
5. on Ctrl-C (or after ``--duration``) ends the stream (everything sent is acknowledged first) and stops the
   service; a second Ctrl-C gives up at once.

It imports neither the service nor anything the service imports: the service is a child process started the
way a user starts it, and the demo is one of its clients (the architecture's dependency rules).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from firmware_bridge.base import Bridge
from firmware_bridge.errors import EndOfStream, UplinkError
from firmware_bridge.labels import LabelTrack

__all__ = ["add_parser", "cmd_demo"]

TENANT = "demo"
#: Myo reader label names -> gesture names of the vocabulary (biosig.zeroshot.MYO_GESTURES, by label).
_MIN_LABEL_FRACTION = 0.8  # a window counts towards the accuracy when one true gesture covers 80 % of it


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser(
        "demo",
        help="run the service with its bundled models and a live device stream; print live vs true labels",
        description=__doc__.split("\n\n", 1)[1].split("\n\nIt imports", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--source", choices=("replay", "synthetic"), default="replay",
                   help="replay a recording (default: the bundled Myo session) or stream synthetic sEMG")  # fmt: skip
    p.add_argument("--path", help="what to replay (default: biosig/assets/myo/12345-1, real Myo sEMG)")
    p.add_argument("--profile", choices=("myo", "emg2pose"), default="myo", help="synthetic device profile")
    p.add_argument("--speed", type=float, default=1.0, help="1 = real time (default); 4 = four times faster")
    p.add_argument("--duration", type=float, help="stop after this many seconds of signal (default: until Ctrl-C)")
    p.add_argument("--host", default="127.0.0.1", help="interface for the service (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="service port (default 8000; 0 picks a free one)")
    p.add_argument("--data-dir", default="biosig-demo", help="service state for the demo (default ./biosig-demo)")
    p.add_argument("--every", type=float, default=1.0, help="seconds of signal between printed lines (default 1)")
    p.add_argument("--results-out", metavar="FILE", help="also write every result with its true label (JSON lines)")
    p.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for the service to start")
    p.set_defaults(handler=cmd_demo)


# -- the service as a child process ---------------------------------------------------------------------------


def _biosig() -> list[str]:
    return [sys.executable, "-m", "biosig.cli.main"]


def demo_key(data_dir: Path) -> str:
    """The demo tenant's key, kept (0600) in the data directory so the dashboard link stays valid across runs."""
    path = data_dir / "demo.key"
    if path.is_file():
        key = path.read_text().strip()
        if key:
            return key
    data_dir.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        _biosig() + ["keys", "create", "--tenant", TENANT, "--name", "demo", "--json", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"could not create the demo key: {out.stderr.strip() or out.stdout.strip()}")
    key = json.loads(out.stdout)["key"]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


class ServiceProcess:
    """``biosig serve`` as a child; its log goes to ``data_dir/service.log``."""

    def __init__(self, data_dir: Path, host: str, port: int) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.log_path = data_dir / "service.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")
        cmd = _biosig() + ["serve", "--data-dir", str(self.data_dir), "--host", self.host, "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def _port_from_log(self) -> int | None:
        import re

        text = self.log_path.read_text(errors="replace")
        found = re.findall(r"Uvicorn running on http://[^:]+:(\d+)", text)
        return int(found[-1]) if found else None

    def wait_ready(self, timeout: float, out: TextIO) -> None:
        t_end = time.monotonic() + timeout
        dots = 0
        while time.monotonic() < t_end:
            if self.proc is not None and self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace").splitlines()[-25:]
                raise RuntimeError("the service exited during startup:\n  " + "\n  ".join(tail))
            if self.port == 0:
                self.port = self._port_from_log() or 0
            if self.port:
                try:
                    with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as r:
                        if json.loads(r.read()).get("status") == "ready":
                            print(file=out)
                            return
                except (urllib.error.URLError, OSError, ValueError):
                    pass
            if dots == 0:
                print("demo: waiting for the service (the first start exports the models to ONNX)", end="", file=out)
            print(".", end="", file=out, flush=True)
            dots += 1
            time.sleep(0.5)
        raise RuntimeError(f"the service was not ready after {timeout:g} s; see {self.log_path}")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
        return self.proc.returncode


# -- true labels and the running score ------------------------------------------------------------------------


def _gesture_names(label_names: Mapping[int, str]) -> dict[int, str]:
    """A source's label names in the vocabulary's terms (the Myo reader's labels map to MYO_GESTURES)."""
    from biosig.io.myo import LABEL_NAMES
    from biosig.zeroshot import MYO_GESTURES

    if dict(label_names) == LABEL_NAMES:
        return dict(MYO_GESTURES)
    return {k: v.replace(" ", "_") for k, v in label_names.items()}


class Score:
    """Running accuracy and balanced accuracy of live labels against true ones."""

    def __init__(self) -> None:
        self.n = 0
        self.correct = 0
        self.per_class: Counter[str] = Counter()
        self.per_class_correct: Counter[str] = Counter()

    def add(self, live: str | None, true: str | None) -> bool | None:
        if true is None or live is None:
            return None
        ok = live == true
        self.n += 1
        self.correct += ok
        self.per_class[true] += 1
        self.per_class_correct[true] += ok
        return ok

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    @property
    def balanced_accuracy(self) -> float:
        if not self.per_class:
            return float("nan")
        return float(np.mean([self.per_class_correct[c] / n for c, n in self.per_class.items()]))


# -- the run --------------------------------------------------------------------------------------------------


def _bridge(args: argparse.Namespace) -> Bridge:
    from firmware_bridge.registry import make_bridge

    if args.source == "synthetic":
        return make_bridge("synthetic", args.profile, speed=args.speed, duration_s=args.duration)
    path = args.path
    if path is None:
        from biosig.datasets.catalog import bundled_myo_session

        path = str(bundled_myo_session())
    return make_bridge("replay", path, speed=args.speed, loop=True)


def cmd_demo(args: argparse.Namespace) -> int:
    if not args.speed > 0 or (args.duration is not None and not args.duration > 0) or not args.every > 0:
        raise ValueError("--speed, --duration and --every must be positive")
    out = sys.stdout
    data_dir = Path(args.data_dir).resolve()
    key = demo_key(data_dir)
    service = ServiceProcess(data_dir, args.host, args.port)
    service.start()
    results_out = open(args.results_out, "a", encoding="utf-8") if args.results_out else None
    try:
        service.wait_ready(args.ready_timeout, out)
        print(f"demo: service up at {service.url} (log: {service.log_path})", file=out)
        print(f"demo: dashboard  {service.url}/dashboard#key={key}", file=out)
        print(f"demo: API key for tenant {TENANT!r} (kept in {data_dir / 'demo.key'}): {key}", file=out)
        return _stream(args, service, key, out, results_out)
    finally:
        code = service.stop()
        print(f"demo: service stopped{'' if code in (0, 130) else f' with exit code {code}'}", file=out)
        if results_out is not None:
            results_out.close()


def _stream(args: argparse.Namespace, service: ServiceProcess, key: str, out: TextIO, results_out: Any) -> int:
    from firmware_bridge.uplink import Uplink

    bridge = _bridge(args)
    score = Score()
    lock = threading.Lock()
    last_print = [-1e9]
    with bridge:
        info = bridge.info
        truth = LabelTrack(_gesture_names(bridge.label_names), int(60 * info.sfreq)) if bridge.label_names else None
        source = args.path or (
            "bundled Myo session 12345-1" if args.source == "replay" else f"synthetic {args.profile}"
        )
        print(f"demo: streaming {source}: {info.n_channels} ch @ {info.sfreq:g} Hz, speed x{args.speed:g}", file=out)

        def on_result(result: Any) -> None:
            true = (
                truth.window(result.start_sample, result.end_sample, _MIN_LABEL_FRACTION) if truth is not None else None
            )
            with lock:
                ok = score.add(result.label, true)
                if results_out is not None:
                    row = {k: v for k, v in result.to_dict().items() if k not in ("type", "embedding")}
                    results_out.write(json.dumps(row | {"true_label": true}) + "\n")
                if result.end_s - last_print[0] >= args.every:
                    last_print[0] = result.end_s
                    mark = {True: "ok", False: "--", None: "  "}[ok]
                    acc = f"{100 * score.accuracy:5.1f}%" if score.n else "  n/a"
                    print(f"  t={result.end_s:7.2f}s  live: {str(result.label):<17} "
                          f"({(result.score or 0):.2f})  true: {str(true or '-'):<17} {mark}  "
                          f"running accuracy {acc} over {score.n} windows", file=out, flush=True)  # fmt: skip

        stream = f"demo-{args.source}-{int(time.time())}"
        uplink = Uplink(f"ws://{service.host}:{service.port}/v1/stream", stream=stream, info=info, wire=bridge.wire,
                        api_key=key, device=bridge.describe() | {"user": "demo"}, labels=True, on_result=on_result)  # fmt: skip
        uplink.start()
        limit = None if args.duration is None else int(round(args.duration * info.sfreq))
        bridge.start()
        interrupted = False
        try:
            while True:
                try:
                    chunk = bridge.read(timeout=0.25)
                except EndOfStream:
                    break
                if chunk is None:
                    if uplink.status().state == "failed":
                        break
                    continue
                if limit is not None and chunk.first_sample >= limit:
                    break
                if truth is not None:
                    truth.add(chunk)
                try:
                    uplink.send(chunk)
                except UplinkError as exc:
                    print(f"demo: the uplink stopped: {exc}", file=out)
                    break
        except KeyboardInterrupt:
            interrupted = True
            print("\ndemo: stopping (Ctrl-C again to give up at once)", file=out)
        bridge.stop()
    try:
        status = uplink.close(timeout=15.0)
    except KeyboardInterrupt:
        status = uplink.close(timeout=0.0)
    with lock:
        print(f"demo: {score.n} labelled windows, accuracy {100 * score.accuracy:.1f}%, balanced accuracy "
              f"{100 * score.balanced_accuracy:.1f}% (chance {100 / max(1, len(score.per_class)):.1f}%)", file=out)  # fmt: skip
    print(f"demo: uplink {status.line()}", file=out)
    if status.state == "failed":
        print(f"demo: error: {status.last_error}", file=out)
        return 1
    return 130 if interrupted and status.buffered_frames else 0
