"""``GET /dashboard``: the live dashboard, a static page that talks to the REST API and ``/v1/watch``.

The page holds no secret: the API key is typed in, or passed in the URL *fragment* (``/dashboard#key=...``,
which browsers never send to the server), kept in the tab's session storage and sent as a header (REST) or as
the ``key.<key>`` subprotocol (WebSocket).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parents[1] / "static" / "dashboard"


def mount(app: FastAPI) -> None:
    """Serve the dashboard at ``/dashboard`` (page) and ``/dashboard/static`` (scripts, styles)."""
    if not (STATIC / "index.html").is_file():
        raise RuntimeError(f"dashboard files are missing from {STATIC}; reinstall biosig")

    @app.get("/dashboard", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")
