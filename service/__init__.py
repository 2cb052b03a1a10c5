"""The biosig service: FastAPI app (REST + WebSocket ``/v1/stream``), API keys, crash-safe recordings.

Start it with ``biosig serve`` or ``python -m uvicorn --factory service.app:app_from_env``; build it in code
with :func:`service.app.create_app`. See docs/service.md. Nothing is imported here, so that ``biosig --help``
(which loads :mod:`service.cli`) stays fast.
"""
