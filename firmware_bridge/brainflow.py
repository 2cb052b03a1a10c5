"""BrainFlow bridge: any board BrainFlow supports (OpenBCI, Muse, g.tec, ...), by board id or name.

BrainFlow's ``BoardShim`` lifecycle maps onto ours: ``prepare_session`` at open, ``start_stream`` at start,
``get_board_data`` (drain) per read, ``stop_stream``, ``release_session``. The bridge streams one kind of
channel of the board (``emg`` by default; ``eeg``, ``exg``, ``ecg``, ``eog``, ...) in volts (BrainFlow's
ExG rows are microvolts), with BrainFlow's channel names when the board has them.

Clocks and gaps: BrainFlow stamps every sample on the host (its timestamp row, unix seconds); that is the
device time here. Boards that count packages (its package-number row, 0..255) let the bridge find lost
samples: when the counter steps by one per sample (checked on the first chunk; ``package_counter="auto"``), a
larger step is a gap of the samples missed, and a chunk is cut there.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from biosig.signals.info import CHANNEL_TYPES, SignalInfo
from firmware_bridge._deps import require
from firmware_bridge.base import Bridge, Chunk, WireFormat
from firmware_bridge.errors import DeviceError

logger = logging.getLogger(__name__)

__all__ = ["BrainFlowBridge"]

#: BrainFlow channel kinds the bridge can stream, and the biosig channel type of each.
CHANNEL_KINDS = {"emg": "emg", "eeg": "eeg", "exg": "emg", "ecg": "ecg", "eog": "eog", "ppg": "ppg", "eda": "eda"}
_MICROVOLT_KINDS = {"emg", "eeg", "exg", "ecg", "eog"}


class BrainFlowBridge(Bridge):
    """Stream a BrainFlow board.

    Parameters
    ----------
    board_id
        BrainFlow board id (``-1`` synthetic, ``0`` Cyton, ...) or its name (``"SYNTHETIC_BOARD"``).
    params
        ``BrainFlowInputParams`` fields: ``serial_port``, ``mac_address``, ``ip_address``, ``ip_port``,
        ``serial_number``, ``other_info``, ``file``, ``timeout``, ...
    channels
        Which channel kind to stream (:data:`CHANNEL_KINDS`).
    package_counter
        ``"auto"``: find gaps with the package-number row when it counts samples; ``"off"``: never.
    ring_size
        Samples BrainFlow buffers between reads.
    """

    kind = "brainflow"

    def __init__(
        self,
        board_id: int | str = -1,
        *,
        params: Mapping[str, Any] | None = None,
        channels: str = "emg",
        package_counter: str = "auto",
        ring_size: int = 450_000,
        poll_s: float = 0.02,
    ) -> None:
        super().__init__()
        if channels not in CHANNEL_KINDS:
            raise ValueError(f"channels must be one of {sorted(CHANNEL_KINDS)}, got {channels!r}")
        if package_counter not in ("auto", "off"):
            raise ValueError(f"package_counter must be 'auto' or 'off', got {package_counter!r}")
        self.board_id = board_id
        self.params = dict(params or {})
        self.channels = channels
        self.package_counter = package_counter
        self.ring_size = ring_size
        self.poll_s = poll_s
        self._board: Any = None
        self._rows: list[int] = []
        self._ts_row: int | None = None
        self._pkg_row: int | None = None
        self._use_counter: bool | None = None if package_counter == "auto" else False
        self._last_pkg: int | None = None
        self._next = 0
        self._pending: deque[Chunk] = deque()
        self._factor = 1.0
        self._name = ""

    def describe(self) -> dict[str, str]:
        return {"kind": "brainflow", "name": self._name or str(self.board_id)}

    def _resolve_board(self, board_shim: Any) -> int:
        ids = board_shim.BoardIds
        if isinstance(self.board_id, str):
            key = self.board_id.strip().upper()
            if key.lstrip("-").isdigit():
                return int(key)
            if key not in ids.__members__:
                raise ValueError(
                    f"unknown BrainFlow board {self.board_id!r}; e.g. {', '.join(list(ids.__members__)[:8])}"
                )
            return int(ids[key].value)
        return int(self.board_id)

    def _open(self) -> tuple[SignalInfo, WireFormat]:
        board_shim = require("brainflow.board_shim")
        board_id = self._resolve_board(board_shim)
        shim, params_cls = board_shim.BoardShim, board_shim.BrainFlowInputParams
        params = params_cls()
        allowed = sorted(k for k in vars(params) if not k.startswith("_"))
        for key, value in self.params.items():
            if key not in allowed:
                raise ValueError(f"unknown BrainFlow parameter {key!r}; allowed: {allowed}")
            setattr(params, key, type(getattr(params, key))(value))
        try:
            rows = getattr(shim, f"get_{self.channels}_channels")(board_id)
            sfreq = shim.get_sampling_rate(board_id)
            self._name = str(shim.get_board_descr(board_id).get("name", board_id))
        except board_shim.BrainFlowError as exc:
            raise DeviceError(f"BrainFlow board {board_id} has no {self.channels} channels ({exc})") from exc
        if not rows:
            raise DeviceError(f"BrainFlow board {board_id} ({self._name}) has no {self.channels} channels")
        try:
            self._ts_row = shim.get_timestamp_channel(board_id)
        except board_shim.BrainFlowError:
            self._ts_row = None
        try:
            self._pkg_row = shim.get_package_num_channel(board_id)
        except board_shim.BrainFlowError:
            self._pkg_row = None
        try:
            names = list(shim.get_eeg_names(board_id)) if self.channels in ("eeg", "exg", "emg") else []
        except board_shim.BrainFlowError:
            names = []
        ch_type = CHANNEL_KINDS[self.channels]
        if len(names) != len(rows) or len(set(names)) != len(rows):
            names = [f"{ch_type}{i}" for i in range(len(rows))]
        self._factor = 1e-6 if self.channels in _MICROVOLT_KINDS else 1.0
        assert ch_type in CHANNEL_TYPES
        self._board = shim(board_id, params)
        try:
            self._board.prepare_session()
        except board_shim.BrainFlowError as exc:
            self._board = None
            raise DeviceError(f"BrainFlow could not prepare board {board_id} ({self._name}): {exc}") from exc
        self._rows = list(rows)
        units = ("V" if self._factor != 1.0 else "a.u.",) * len(rows)
        info = SignalInfo(float(sfreq), tuple(names), (ch_type,) * len(rows), units)
        return info, WireFormat("float32", 1.0)

    def _start(self) -> None:
        try:
            self._board.start_stream(self.ring_size)
        except Exception as exc:
            raise DeviceError(f"BrainFlow could not start streaming ({exc})") from exc

    def _read(self, timeout: float | None) -> Chunk | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._pending:
            try:
                count = self._board.get_board_data_count()
                data = self._board.get_board_data() if count else None
            except Exception as exc:
                raise DeviceError(f"BrainFlow board failed while reading: {exc}") from exc
            if data is not None and data.shape[1]:
                self._split(data)
                break
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(self.poll_s if deadline is None else max(0.0, min(self.poll_s, deadline - time.monotonic())))
        return self._pending.popleft() if self._pending else None

    def _split(self, data: np.ndarray) -> None:
        """Board rows -> contiguous chunks on the sample clock (cut at package-counter jumps)."""
        host = time.time()
        n = data.shape[1]
        steps = np.ones(n, dtype=np.int64)
        if self._pkg_row is not None and self._use_counter is not False:
            pkg = data[self._pkg_row].astype(np.int64)
            prev = np.concatenate([[self._last_pkg if self._last_pkg is not None else pkg[0] - 1], pkg[:-1]])
            d = (pkg - prev) % 256
            d[d == 0] = 256
            if self._use_counter is None:
                self._use_counter = bool(n > 1 and np.all(d[1:] == 1))
                logger.info("BrainFlow package counter %s", "counts samples: gaps are detected" if self._use_counter
                            else "does not count samples: gaps cannot be detected")  # fmt: skip
            if self._use_counter:
                steps = d
                if self._last_pkg is None:
                    steps[0] = 1
            self._last_pkg = int(pkg[-1])
        index = self._next - 1 + np.cumsum(steps)  # sample clock of each row
        self._next = int(index[-1]) + 1
        cuts = np.flatnonzero(steps[1:] != 1) + 1
        x = (data[self._rows] * self._factor).astype(np.float32)
        ts = data[self._ts_row] if self._ts_row is not None else None
        for part in np.split(np.arange(n), cuts):
            t_us = int(round(ts[part[0]] * 1e6)) if ts is not None else int(round(host * 1e6))
            self._pending.append(Chunk(int(index[part[0]]), x[:, part], t_us, host))

    def _stop(self) -> None:
        try:
            self._board.stop_stream()
        except Exception as exc:
            logger.warning("BrainFlow stop_stream failed: %s", exc)

    def _close(self) -> None:
        if self._board is not None:
            try:
                self._board.release_session()
            except Exception as exc:
                logger.warning("BrainFlow release_session failed: %s", exc)
            self._board = None
        self._pending.clear()
        self._next, self._last_pkg = 0, None
