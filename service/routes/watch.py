"""``WebSocket /v1/watch``: live events of the caller's tenant for observers such as the dashboard.

Authentication is the stream endpoint's (``Authorization: Bearer`` or the ``key.<key>`` subprotocol, never the
URL). The first message is a ``snapshot`` -- the tenant's live streams, its gestures and their 2-D anchors --
then events follow as they happen (see :mod:`service.watch`). Observers send nothing; anything they send is
ignored. A slow observer loses its oldest events, never the streams anything.
"""

from __future__ import annotations

import asyncio
import json
import logging

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from service.auth import AuthError
from service.gestures import GesturesUnavailable
from service.routes.stream import SUBPROTOCOL, authenticate_websocket

router = APIRouter(tags=["stream"])
log = logging.getLogger(__name__)


@router.websocket("/v1/watch")
async def watch(websocket: WebSocket) -> None:
    """Observe the tenant's live streams (events described in docs/service.md)."""
    state = websocket.app.state.service
    offered = list(websocket.scope.get("subprotocols") or [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    try:
        who = authenticate_websocket(state, websocket, offered)
    except AuthError as exc:
        state.metrics.auth_failures.labels("websocket").inc()
        await websocket.send_text(json.dumps({"type": "error", "code": "unauthorized", "message": str(exc),
                                              "fatal": True, "close_code": 1008}))  # fmt: skip
        await websocket.close(1008, str(exc)[:120])
        return
    watcher = state.watch.subscribe(who.tenant)
    try:
        snapshot = {
            "type": "snapshot",
            "tenant": who.tenant,
            "streams": [h.describe() for (tenant, _), h in list(state.live.items()) if tenant == who.tenant],
        }
        try:
            projection = await asyncio.to_thread(state.gestures.projection, who.tenant)
            snapshot["projection"] = projection.to_event() if projection is not None else None
        except GesturesUnavailable:
            snapshot["projection"] = None
        await websocket.send_text(json.dumps(snapshot, allow_nan=False))

        async def drain() -> None:  # notice the observer leaving; ignore what it sends
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass

        reader = asyncio.create_task(drain())
        try:
            while not reader.done():
                nxt = asyncio.create_task(watcher.next())
                done, _ = await asyncio.wait({nxt, reader}, return_when=asyncio.FIRST_COMPLETED)
                if nxt in done:
                    await websocket.send_text(nxt.result())
                else:
                    nxt.cancel()
        finally:
            reader.cancel()
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        state.watch.unsubscribe(watcher)
        if watcher.dropped:
            log.info("watcher of %s left; %d events dropped while it lagged", who.tenant, watcher.dropped)
