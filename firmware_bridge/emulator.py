"""Firmware emulator: a pseudo-terminal that speaks the UART framing of :mod:`firmware_bridge.uart`.

``python -m firmware_bridge.emulator`` creates a pty pair, prints ``pty /dev/pts/N`` on stdout, and behaves
like a wristband's microcontroller on the other end: it answers ``i`` with an INFO packet, streams DATA
packets of synthetic sEMG (:class:`~firmware_bridge.synthetic.SyntheticSignal`, int16 counts) after ``b``,
pauses on ``s``, and sends INFO about once a second while streaming. Point the serial bridge at the printed
path (``biosig bridge --source serial --port /dev/pts/N``).

It can damage the link on purpose, each DATA packet independently with the given probabilities (seeded):

``--corrupt P``       one byte of the encoded packet replaced by another non-zero byte (noise on the line);
``--drop-bytes P``    one byte of the encoded packet lost (a UART overrun);
``--drop-packets P``  the whole packet lost (a full firmware buffer).

INFO packets are never damaged. With ``--packets N`` it stops after N DATA packets, writes what happened to
every packet to ``--log`` (JSON), prints ``done`` and keeps the pty open until it is terminated, so a test
knows exactly what the bridge should have delivered, counted as corrupt, and reported as gaps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import signal
import sys
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware_bridge.synthetic import PROFILES, SyntheticSignal
from firmware_bridge.uart import DataPacket, InfoPacket, cobs_encode, encode_packet, frame_packet

__all__ = ["EmulatorConfig", "damage", "main", "make_packets", "packet_fates"]

FATES = ("ok", "corrupt", "drop_byte", "dropped")


@dataclass(frozen=True)
class EmulatorConfig:
    profile: str = "emg2pose"
    seed: int = 0
    samples_per_packet: int = 20
    packets: int | None = None
    speed: float = 1.0
    corrupt: float = 0.0
    drop_bytes: float = 0.0
    drop_packets: float = 0.0
    block_s: float = 10.0

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {self.profile!r}")
        if not 1 <= self.samples_per_packet <= 255:
            raise ValueError(f"samples_per_packet must be in 1..255, got {self.samples_per_packet}")
        for name in ("corrupt", "drop_bytes", "drop_packets"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be a probability in [0, 1], got {p}")
        if self.corrupt + self.drop_bytes + self.drop_packets > 1.0:
            raise ValueError("--corrupt, --drop-bytes and --drop-packets must add up to at most 1")
        if not self.speed > 0:
            raise ValueError(f"speed must be > 0 (inf: as fast as the reader takes it), got {self.speed}")

    def signal(self) -> SyntheticSignal:
        return SyntheticSignal(self.profile, seed=self.seed, block_s=self.block_s)

    def info(self) -> InfoPacket:
        p = PROFILES[self.profile]
        return InfoPacket(p.n_channels, p.sfreq, p.wire.scale, "emg", p.unit, f"emu-{self.profile}")


def make_packets(config: EmulatorConfig) -> Iterator[DataPacket]:
    """The DATA packets the emulator sends, before any damage (deterministic in ``config.seed``)."""
    signal_ = config.signal()
    sfreq = signal_.profile.sfreq
    n = config.samples_per_packet
    k = 0
    block_index, block = -1, np.zeros((0, 0), dtype=np.int16)
    while config.packets is None or k < config.packets:
        first = k * n
        parts = []
        pos = first
        while pos < first + n:
            b, off = divmod(pos, signal_.block_len)
            if b != block_index:
                block_index, block = b, signal_.block(b)[0].astype(np.int16)
            take = min(first + n - pos, signal_.block_len - off)
            parts.append(block[:, off : off + take])
            pos += take
        yield DataPacket(k & 0xFFFF, first & 0xFFFFFFFF, int(round(first * 1e6 / sfreq)) & 0xFFFFFFFF,
                         np.concatenate(parts, axis=1))  # fmt: skip
        k += 1


def packet_fates(config: EmulatorConfig) -> Iterator[tuple[str, int]]:
    """For each DATA packet: its fate (one of :data:`FATES`) and a random number that places the damage."""
    rng = np.random.default_rng([config.seed, 0xDA3A6E])
    edges = np.cumsum([config.corrupt, config.drop_bytes, config.drop_packets])
    while True:
        u, where = rng.random(), int(rng.integers(0, 2**31))
        fate = FATES[1 + int(np.searchsorted(edges, u, side="right"))] if u < edges[-1] else "ok"
        yield fate, where


def damage(frame: bytes, fate: str, where: int) -> bytes:
    """Apply a fate to one COBS-encoded packet (without its delimiter); never creates a 0x00 byte."""
    if fate == "ok":
        return frame
    if fate == "dropped":
        return b""
    i = where % len(frame)
    if fate == "drop_byte":
        return frame[:i] + frame[i + 1 :]
    assert fate == "corrupt", fate
    new = 1 + (frame[i] + where % 254) % 255  # 1..255, never frame[i] itself
    if new == frame[i]:
        new = 1 + new % 255
    return frame[:i] + bytes([new]) + frame[i + 1 :]


class _Link:
    """The master side of the pty: blocking writes, non-blocking command reads."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no newline translation: a byte is a byte
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def commands(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            return os.read(self.master, 256)
        except OSError:
            return b""


def run(
    config: EmulatorConfig, link: _Link, log_path: Path | None, autostart: bool, garbage: bytes = b""
) -> dict[str, object]:
    """Serve commands and stream until ``config.packets`` DATA packets are sent; returns the fate log."""
    info = config.info()
    info_frame = frame_packet(info)
    sfreq = info.sfreq
    packets = make_packets(config)
    fates = packet_fates(config)
    streaming = autostart
    greeted = False

    def greet() -> None:
        # Nothing is sent before the host speaks (an open() may flush the port's input). Then: optional line
        # noise, and a delimiter, so that the host's first packet starts clean.
        nonlocal greeted
        if not greeted:
            link.write(garbage + b"\x00")
            greeted = True

    if autostart:
        greet()
        link.write(info_frame)
    log: list[dict[str, object]] = []
    sent = 0
    t0 = time.monotonic()
    paused_at: float | None = None if autostart else t0
    period = config.samples_per_packet / sfreq / config.speed
    info_every = max(1, int(round(sfreq / config.samples_per_packet)))
    while config.packets is None or sent < config.packets:
        due = t0 + (sent + 1) * period if math.isfinite(period) and period > 0 else 0.0
        wait = due - time.monotonic() if streaming else 0.2
        cmds = link.commands(wait if wait > 0 else 0.0)
        if cmds:
            greet()
        for c in cmds:
            if c == ord("i"):
                link.write(info_frame)
            elif c == ord("b") and not streaming:
                streaming = True
                link.write(info_frame)
                if paused_at is not None:
                    t0 += time.monotonic() - paused_at
                    paused_at = None
            elif c == ord("s") and streaming:
                streaming = False
                paused_at = time.monotonic()
        if not streaming or time.monotonic() < due:
            continue
        packet = next(packets)
        fate, where = next(fates)
        link.write(damage(cobs_encode(encode_packet(packet)), fate, where) + (b"" if fate == "dropped" else b"\x00"))
        log.append({"seq": sent, "first_sample": packet.first_sample, "n": packet.n_samples, "fate": fate})
        sent += 1
        if sent % info_every == 0:
            link.write(info_frame)
    summary: dict[str, object] = {
        "config": {k: (v if not (isinstance(v, float) and math.isinf(v)) else "inf") for k, v in vars(config).items()},
        "packets": log,
        "counts": {f: sum(1 for p in log if p["fate"] == f) for f in FATES},
    }
    if log_path is not None:
        tmp = log_path.with_suffix(log_path.suffix + ".tmp")
        tmp.write_text(json.dumps(summary))
        tmp.replace(log_path)
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m firmware_bridge.emulator", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", choices=sorted(PROFILES), default="emg2pose")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples-per-packet", type=int, default=20)
    p.add_argument("--packets", type=int, default=None, help="stop after this many DATA packets (default: never)")
    p.add_argument("--speed", type=float, default=1.0, help="1 = real time; inf = as fast as the reader reads")
    p.add_argument("--corrupt", type=float, default=0.0, help="probability that a packet gets one wrong byte")
    p.add_argument("--drop-bytes", type=float, default=0.0, help="probability that a packet loses one byte")
    p.add_argument("--drop-packets", type=float, default=0.0, help="probability that a packet is lost")
    p.add_argument("--garbage", type=int, default=0, help="random bytes to send before anything else")
    p.add_argument("--autostart", action="store_true", help="stream at once instead of waiting for 'b'")
    p.add_argument("--log", type=Path, default=None, help="JSON file: every packet's fate (with --packets)")
    p.add_argument("--link", type=Path, default=None, help="also make this symlink to the pty")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = EmulatorConfig(args.profile, args.seed, args.samples_per_packet, args.packets, args.speed,
                                args.corrupt, args.drop_bytes, args.drop_packets)  # fmt: skip
    except ValueError as exc:
        print(f"emulator: error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    link = _Link()
    if args.link is not None:
        args.link.unlink(missing_ok=True)
        args.link.symlink_to(link.path)
    garbage = bytes(np.random.default_rng(args.seed).integers(1, 256, args.garbage, dtype=np.uint8).tobytes())
    print(f"pty {link.path}", flush=True)
    try:
        summary = run(config, link, args.log, args.autostart, garbage)
        print(f"done {json.dumps(summary['counts'])}", flush=True)
        while True:  # keep the pty open for the reader until terminated
            link.commands(1.0)
    except KeyboardInterrupt:
        return 0
    finally:
        if args.link is not None:
            args.link.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
