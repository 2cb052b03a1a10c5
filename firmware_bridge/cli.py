"""``biosig bridge``: stream a device to the service, with live status; registered through ``biosig.commands``.

::

    biosig bridge --source synthetic --profile myo --to ws://127.0.0.1:8000/v1/stream --key $KEY
    biosig bridge --source replay --path biosig/assets/myo/12345-1 --speed 1 --to ws://... --stream myo-1
    biosig bridge --source serial --port /dev/ttyACM0 --to ws://...
    biosig bridge --source lsl --lsl-type EMG --to ws://...
    biosig bridge --source brainflow --board-id -1 --board-channels emg --to ws://...
    biosig bridge --source ble --address AA:BB:CC:DD:EE:FF --ble-profile myo --to ws://...
    biosig bridge --source synthetic --duration 5             # no --to: read the device, print status only

Status goes to stderr every ``--status-every`` seconds: the device's rate, samples, gaps and corrupted
packets, and the uplink's sent/acked/buffered frames, reconnects, clock drift and the latest result next to
the true label when the source knows it (replay, synthetic). ``--results-out FILE`` (``-`` for stdout)
writes every result as a JSON line with ``true_label``. Ctrl-C stops the device, sends what is buffered,
ends the stream and exits 0 once the service has acknowledged everything (1 if frames had to be written to
a pending file instead); a second Ctrl-C gives up at once (exit 130).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from firmware_bridge.base import Bridge
from firmware_bridge.errors import EndOfStream, UplinkError
from firmware_bridge.labels import LabelTrack
from firmware_bridge.registry import SOURCES, make_bridge

logger = logging.getLogger(__name__)

KEY_ENV = "BIOSIG_API_KEY"


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser(
        "bridge",
        help="stream a device (synthetic, replay, serial, lsl, brainflow, ble) to the service",
        description="Stream a device to the biosig service's /v1/stream WebSocket (docs/bridges.md), with live status.",
        epilog="examples:\n" + __doc__.split("::\n\n", 1)[1].split("\n\n", 1)[0] + "\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--source", required=True, choices=sorted(SOURCES), help="where the samples come from")
    up = p.add_argument_group("uplink")
    up.add_argument("--to", metavar="URL", help="the service's stream endpoint, ws://host:port/v1/stream (omit: local)")
    up.add_argument("--key", help=f"API key (default: ${KEY_ENV}); sent as 'Authorization: Bearer'")
    up.add_argument("--stream", help="stream key (default: <source>-<hostname>)")
    up.add_argument("--resume", action="store_true", help="continue an existing stream of this key")
    up.add_argument("--embeddings", action="store_true", help="ask for embeddings in results")
    up.add_argument("--no-labels", action="store_true", help="do not ask for gesture labels")
    up.add_argument("--frame-ms", type=float, default=50.0, help="milliseconds of signal per frame at most")
    up.add_argument("--memory-mb", type=float, default=32.0, help="unacknowledged frames kept in memory")
    up.add_argument("--spill-dir", help="folder for the spill file and unsent frames (default: temp folder)")
    up.add_argument("--max-spill-mb", type=float, default=1024.0, help="largest spill file")
    up.add_argument("--max-retries", type=int, default=None, help="give up after this many failed connects")
    up.add_argument("--flush-timeout", type=float, default=15.0, help="seconds to wait for acks when stopping")
    up.add_argument("--lsl-results", metavar="NAME", help="also publish results as LSL streams NAME-labels/-embeddings")
    up.add_argument("--results-out", metavar="FILE", help="write every result as a JSON line ('-': stdout)")
    run = p.add_argument_group("run")
    run.add_argument("--duration", type=float, help="stop after this many seconds of signal")
    run.add_argument("--status-every", type=float, default=1.0, help="seconds between status lines (0: none)")

    g = p.add_argument_group("synthetic")
    g.add_argument("--profile", choices=("emg2pose", "myo"), default="emg2pose", help="16 ch @ 2 kHz, or Myo-like")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--include-pose", action="store_true", help="add the 23 pose channels (emg2pose)")
    g.add_argument("--drift-ppm", type=float, default=0.0, help="simulated device clock drift")
    g = p.add_argument_group("replay")
    g.add_argument("--path", help="file or folder any biosig reader opens")
    g.add_argument("--format", help="reader name (default: detected)")
    g.add_argument("--index", type=int, help="replay only this recording of the path")
    g.add_argument("--loop", action="store_true", help="start over at the end")
    g.add_argument("--speed", type=float, default=1.0, help="replay/synthetic speed (1 = real time, inf = max)")
    g = p.add_argument_group("serial")
    g.add_argument("--port", help="serial device or pyserial URL (e.g. /dev/ttyACM0, the emulator's pty)")
    g.add_argument("--baud", type=int, default=921_600)
    g.add_argument("--sfreq", type=float, help="rate in Hz when the firmware/device does not report it")
    g.add_argument("--channels", type=int, help="channel count when the firmware/device does not report it")
    g.add_argument("--scale", type=float, help="units per count when the firmware/device does not report it")
    g = p.add_argument_group("lsl")
    g.add_argument("--lsl-name")
    g.add_argument("--lsl-type")
    g.add_argument("--lsl-source-id")
    g = p.add_argument_group("brainflow")
    g.add_argument("--board-id", default="-1", help="BrainFlow board id or name (-1: synthetic board)")
    g.add_argument("--board-param", action="append", default=[], metavar="KEY=VALUE",
                   help="BrainFlowInputParams field, e.g. serial_port=/dev/ttyUSB0 (repeatable)")  # fmt: skip
    g.add_argument("--board-channels", default="emg", help="channel kind: emg, eeg, exg, ecg, eog, ...")
    g = p.add_argument_group("ble")
    g.add_argument("--address", help="BLE device address")
    g.add_argument("--ble-profile", choices=("packet", "myo"), default="packet")
    p.set_defaults(handler=cmd_bridge)


def _need(args: argparse.Namespace, flag: str, value: Any) -> Any:
    if value is None:
        raise ValueError(f"--source {args.source} needs {flag}")
    return value


def bridge_from_args(args: argparse.Namespace) -> Bridge:
    """The bridge the flags describe (flags of other sources are ignored)."""
    s = args.source
    if s == "synthetic":
        return make_bridge("synthetic", args.profile, seed=args.seed, include_pose=args.include_pose,
                           speed=args.speed, duration_s=args.duration, clock_drift_ppm=args.drift_ppm)  # fmt: skip
    if s == "replay":
        return make_bridge("replay", _need(args, "--path PATH", args.path), format=args.format, index=args.index,
                           speed=args.speed, loop=args.loop)  # fmt: skip
    if s == "serial":
        return make_bridge("serial", _need(args, "--port PORT", args.port), baudrate=args.baud, sfreq=args.sfreq,
                           n_channels=args.channels, scale=args.scale)  # fmt: skip
    if s == "lsl":
        if not (args.lsl_name or args.lsl_type or args.lsl_source_id):
            raise ValueError("--source lsl needs --lsl-name, --lsl-type or --lsl-source-id")
        return make_bridge("lsl", name=args.lsl_name, type=args.lsl_type, source_id=args.lsl_source_id,
                           scale=args.scale or 1.0)  # fmt: skip
    if s == "brainflow":
        params: dict[str, str] = {}
        for item in args.board_param:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"--board-param must be KEY=VALUE, got {item!r}")
            params[key] = value
        return make_bridge("brainflow", args.board_id, params=params, channels=args.board_channels)
    assert s == "ble", s
    return make_bridge("ble", _need(args, "--address ADDRESS", args.address), profile=args.ble_profile,
                       sfreq=args.sfreq, n_channels=args.channels, scale=args.scale)  # fmt: skip


def _open_results(path: str | None) -> TextIO | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdout
    return open(path, "a", encoding="utf-8")


def cmd_bridge(args: argparse.Namespace) -> int:
    if args.status_every < 0 or (args.duration is not None and not args.duration > 0):
        raise ValueError("--status-every must be >= 0 and --duration > 0")
    key = args.key or os.environ.get(KEY_ENV)
    if args.to and not key:
        raise ValueError(f"--to needs an API key: --key KEY or ${KEY_ENV}")
    bridge = bridge_from_args(args)
    stream = args.stream or f"{args.source}-{socket.gethostname()}"[:64]
    results_out = _open_results(args.results_out)
    uplink = None
    lsl_out = None
    try:
        with bridge:
            info = bridge.info
            print(f"biosig bridge: {args.source} {info.n_channels} ch @ {info.sfreq:g} Hz "
                  f"({bridge.wire.dtype} x {bridge.wire.scale:g}) -> {args.to or 'local (no --to)'}",
                  file=sys.stderr)  # fmt: skip
            track = LabelTrack(bridge.label_names, int(30 * info.sfreq)) if bridge.label_names else None
            last: dict[str, Any] = {}
            if args.to:
                from firmware_bridge.uplink import Uplink

                if args.lsl_results:
                    from firmware_bridge.lsl import ResultOutlet

                    lsl_out = ResultOutlet(args.lsl_results)

                def on_result(result: Any) -> None:
                    true = track.at(result.end_sample - 1 - uplink_offset()) if track else None
                    last["label"], last["true"] = result.label, true
                    if lsl_out is not None:
                        lsl_out.push(result)
                    if results_out is not None:
                        row = {k: v for k, v in result.to_dict().items() if k != "type"}
                        row["true_label"] = true
                        results_out.write(json.dumps(row) + "\n")
                        results_out.flush()

                uplink = Uplink(
                    args.to, stream=stream, info=info, wire=bridge.wire, api_key=key, device=bridge.describe(),
                    labels=not args.no_labels, embeddings=args.embeddings, resume=args.resume, on_result=on_result,
                    frame_s=args.frame_ms / 1000, memory_bytes=int(args.memory_mb * 2**20), spill_dir=args.spill_dir,
                    max_spill_bytes=int(args.max_spill_mb * 2**20), max_retries=args.max_retries,
                )  # fmt: skip

                def uplink_offset() -> int:
                    return uplink.sample_offset if uplink is not None else 0

                uplink.start()
            limit = None if args.duration is None else int(round(args.duration * info.sfreq))
            t0 = time.monotonic()
            next_status = t0 + args.status_every
            bridge.start()
            try:
                while True:
                    try:
                        chunk = bridge.read(timeout=0.25)
                    except EndOfStream:
                        break
                    if chunk is not None:
                        if limit is not None and chunk.first_sample >= limit:
                            break
                        if track is not None:
                            track.add(chunk)
                        if uplink is not None:
                            try:
                                uplink.send(chunk)
                            except UplinkError as exc:  # reported below, after the buffered frames are saved
                                logger.debug("uplink refused a chunk: %s", exc)
                                break
                    now = time.monotonic()
                    if args.status_every and now >= next_status:
                        next_status = now + args.status_every
                        _status(now - t0, bridge, uplink, last)
                    if limit is not None and chunk is not None and chunk.next_sample >= limit:
                        break
            except KeyboardInterrupt:
                print("biosig bridge: stopping (Ctrl-C again to give up at once)", file=sys.stderr)
            bridge.stop()
        if uplink is not None:
            try:
                status = uplink.close(timeout=args.flush_timeout)
            except KeyboardInterrupt:
                status = uplink.close(timeout=0.0)
                print(f"biosig bridge: gave up; {status.buffered_frames} frame(s) unsent", file=sys.stderr)
                _summary(bridge, status)
                return 130
            _summary(bridge, status)
            code = 0
            if status.state == "failed":
                print(f"biosig bridge: error: {status.last_error}", file=sys.stderr)
                code = 1
            if status.pending_file:
                print(f"biosig bridge: {status.buffered_frames} frame(s) were not acknowledged; kept in "
                      f"{status.pending_file} (read it with biosig.protocol.FrameScanner)", file=sys.stderr)  # fmt: skip
                code = 1
            return code
        else:
            _summary(bridge, None)
        return 0
    finally:
        if uplink is not None and uplink.status().state not in ("closed", "failed"):
            uplink.close(timeout=0.0)
        if lsl_out is not None:
            lsl_out.close()
        if results_out is not None and results_out is not sys.stdout:
            results_out.close()


def _status(elapsed: float, bridge: Bridge, uplink: Any, last: Mapping[str, Any]) -> None:
    st = bridge.stats
    rate = st.samples / elapsed if elapsed > 0 else math.nan
    extra = "".join(f" {k}={v}" for k, v in sorted(st.extra.items()) if v and not k.startswith("corrupted_"))
    line = f"[{elapsed:7.1f}s] device: {rate:.1f} Hz samples={st.samples} gaps={st.gaps}{extra}"
    if uplink is not None:
        line += " | " + uplink.status().line()
    if last.get("label") is not None:
        true = f" (true: {last['true']})" if last.get("true") is not None else ""
        line += f" | label={last['label']}{true}"
    print(line, file=sys.stderr, flush=True)


def _summary(bridge: Bridge, status: Any) -> None:
    stats = bridge.stats.as_dict()
    print("biosig bridge: device " + " ".join(f"{k}={v}" for k, v in stats.items()), file=sys.stderr)
    if status is not None:
        print(f"biosig bridge: uplink {status.line()} samples_acked={status.samples_acked}", file=sys.stderr)
        if status.closed:
            print(f"biosig bridge: service totals {status.closed}", file=sys.stderr)
