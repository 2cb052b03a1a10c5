"""The tenant's recordings (one per stream): list, details, and downloads as EDF, emg2pose HDF5 or npz."""

from __future__ import annotations

import shutil
import tempfile
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from service.db import StreamRow
from service.deps import PrincipalDep, StateDep
from service.errors import NotFound
from service.export import FORMATS, export_recording, recording_file
from service.schemas import GapOut, RecordingList, RecordingOut, SessionOut

router = APIRouter(prefix="/v1/recordings", tags=["recordings"])


def _row(state: StateDep, tenant: str, recording_id: int) -> StreamRow:
    row = state.db.get_stream(recording_id)
    if row is None or row.tenant != tenant:  # another tenant's recording does not exist for this caller
        raise NotFound(f"no recording {recording_id} for this API key's tenant")
    return row


def _out(state: StateDep, row: StreamRow, detail: bool) -> RecordingOut:
    live = (row.tenant, row.id) in state.live
    handler = state.live.get((row.tenant, row.id))
    progress = handler.progress_snapshot() if handler is not None else None
    hello = row.hello
    out = RecordingOut(
        id=row.id,
        stream=row.key,
        created=row.created,
        ended=row.ended,
        live=live,
        sfreq=hello["sfreq"],
        channels=hello["channels"],
        dtype=hello["dtype"],
        scale=hello["scale"],
        device=hello.get("device", {}),
        frames=progress.n_frames if progress else row.n_frames,
        samples=progress.n_samples if progress else row.n_samples,
        first_sample=progress.first_sample if progress else row.first_sample,
        next_sample=progress.next_sample if progress else row.next_sample,
        next_seq=progress.next_seq if progress else row.next_seq,
        bytes=recording_file(state.settings.recordings_dir, row).stat().st_size
        if recording_file(state.settings.recordings_dir, row).exists()
        else 0,
    )
    if detail:
        out.gaps = [GapOut(**g.__dict__) for g in state.db.list_gaps(row.id)]
        out.sessions = [
            SessionOut(**{k: v for k, v in s.__dict__.items() if k not in ("stream_id", "key_id")})
            for s in state.db.list_sessions(row.id)
        ]
    return out


@router.get("", response_model=RecordingList, summary="The tenant's recordings")
def list_recordings(
    state: StateDep, who: PrincipalDep, stream: Annotated[str | None, Query(max_length=64)] = None
) -> RecordingList:
    return RecordingList(data=[_out(state, r, False) for r in state.db.list_streams(who.tenant, stream)])


@router.get("/{recording_id}", response_model=RecordingOut, summary="One recording with its sessions and gaps")
def get_recording(recording_id: int, state: StateDep, who: PrincipalDep) -> RecordingOut:
    return _out(state, _row(state, who.tenant, recording_id), True)


@router.get(
    "/{recording_id}/export",
    response_class=FileResponse,
    summary="Download the recording as EDF (mne), emg2pose HDF5 or biosig npz",
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def export(
    recording_id: int,
    state: StateDep,
    who: PrincipalDep,
    format: Annotated[Literal["edf", "emg2pose", "npz"], Query(description="file format")] = "edf",
) -> FileResponse:
    row = _row(state, who.tenant, recording_id)
    tmp = tempfile.mkdtemp(prefix="biosig-export-", dir=state.settings.data_dir)
    try:
        path = export_recording(row, recording_file(state.settings.recordings_dir, row), format, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=FORMATS[format][1],
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True),
    )
