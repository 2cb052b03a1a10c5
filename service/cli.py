"""``biosig serve`` and ``biosig keys {create,list,revoke}``, registered through the ``biosig.commands`` entry point.

``biosig`` itself never imports this module by name (pyproject.toml:
``[project.entry-points."biosig.commands"] serve = "service.cli"``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any

__all__ = ["add_parser"]

log = logging.getLogger(__name__)


def _settings_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--settings", metavar="TOML", help="settings file (also: $BIOSIG_SERVICE_SETTINGS_FILE)")
    p.add_argument("--data-dir", help="service state: metadata.sqlite3, recordings/, cache/ "
                   "(default: $BIOSIG_SERVICE_DATA_DIR or ./biosig-service-data)")  # fmt: skip


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "serve",
        help="run the service (REST + WebSocket) with uvicorn",
        description="Start the biosig service. Settings come from flags, then BIOSIG_SERVICE_* environment "
        "variables, then the TOML settings file; see docs/service.md.",
    )
    _settings_args(p)
    p.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default 8000; 0 picks a free one)")
    p.add_argument("--encoder", dest="encoder_checkpoint", help="embedding encoder .pt/.onnx (default: bundled)")
    p.add_argument("--backend", choices=("auto", "onnx", "torch"), help="inference backend (default auto)")
    p.add_argument("--fsync", choices=("always", "batch", "none"), help="fsync policy (default batch)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), help="default info")
    p.set_defaults(handler=cmd_serve)

    keys = commands.add_parser("keys", help="API keys of the service: create, list, revoke")
    sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    k = sub.add_parser("create", help="create a key for a tenant (printed once; only its hash is stored)")
    _settings_args(k)
    k.add_argument("--tenant", required=True, help="tenant the key's streams, recordings and vocabulary belong to")
    k.add_argument("--name", default="default", help="label for listings (e.g. the device or person)")
    k.add_argument("--rate", type=float, help="REST requests per second for this key (default: the setting)")
    k.add_argument("--json", action="store_true", help="print the key and its id as JSON")
    k.set_defaults(handler=cmd_keys_create)
    k = sub.add_parser("list", help="keys with tenant, name, creation and revocation (never the key)")
    _settings_args(k)
    k.add_argument("--tenant", help="only this tenant's keys")
    k.add_argument("--json", action="store_true")
    k.set_defaults(handler=cmd_keys_list)
    k = sub.add_parser("revoke", help="revoke a key by its id (the 12 hex digits after bsk_)")
    _settings_args(k)
    k.add_argument("key_id")
    k.set_defaults(handler=cmd_keys_revoke)


def _load(args: argparse.Namespace, **extra: Any) -> Any:
    from service.settings import load_settings

    return load_settings(args.settings, data_dir=args.data_dir, **extra)


def _db(args: argparse.Namespace) -> Any:
    from service.db import Database

    settings = _load(args)
    return Database(settings.db_path)


def cmd_keys_create(args: argparse.Namespace) -> int:
    from service.auth import KeyStore

    db = _db(args)
    try:
        key, row = KeyStore(db).create(args.tenant, args.name, args.rate)
    finally:
        db.close()
    if args.json:
        print(json.dumps({"key": key, "key_id": row.key_id, "tenant": row.tenant, "name": row.name}))
    else:
        print(key)
        print(f"key id {row.key_id} for tenant {row.tenant!r} ({row.name}); store it now, it is not shown again",
              file=sys.stderr)  # fmt: skip
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    db = _db(args)
    try:
        rows = db.list_keys(args.tenant)
    finally:
        db.close()
    if args.json:
        print(json.dumps([{k: v for k, v in r.__dict__.items() if k != "hash"} for r in rows], indent=2))
        return 0
    if not rows:
        print("no keys (create one with `biosig keys create --tenant NAME`)")
        return 0
    print(f"{'key id':<14}{'tenant':<20}{'name':<20}{'created':<22}status")
    for r in rows:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created))
        status = "active" if r.revoked is None else "revoked " + time.strftime("%Y-%m-%d", time.localtime(r.revoked))
        print(f"{r.key_id:<14}{r.tenant:<20}{r.name:<20}{created:<22}{status}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    db = _db(args)
    try:
        ok = db.revoke_key(args.key_id)
        known = db.get_key(args.key_id) is not None
    finally:
        db.close()
    if not ok:
        raise ValueError(f"key {args.key_id!r} " + ("was already revoked" if known else "does not exist"))
    print(f"revoked {args.key_id}; streams using it are refused from their next connection")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from biosig.protocol import OVERHEAD
    from service.app import create_app
    from service.routes.stream import shutdown_streams

    settings = _load(
        args,
        host=args.host,
        port=args.port,
        encoder_checkpoint=args.encoder_checkpoint,
        backend=args.backend,
        fsync=args.fsync,
        log_level=args.log_level,
    )
    for name in ("service", "biosig"):
        logging.getLogger(name).setLevel(settings.log_level.upper())
    app = create_app(settings)

    class Server(uvicorn.Server):
        """Closes live streams with 1001 (reconnect and resume) before uvicorn drops the connections."""

        async def shutdown(self, sockets: Any = None) -> None:
            state = getattr(app.state, "service", None)
            if state is not None:
                await shutdown_streams(state, 1001)
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Messages a little over our own limit still reach the handler, which answers with a clear error first.
        ws_max_size=2 * (settings.max_frame_bytes + OVERHEAD),
        ws_per_message_deflate=False,  # frames are binary samples: compressing them costs CPU and saves little
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=10,
    )
    from service.logs import install_key_redaction

    install_key_redaction()  # after uvicorn.Config has configured logging
    server = Server(config)
    asyncio.run(server.serve())
    return 0
