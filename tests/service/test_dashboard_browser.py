"""The dashboard end to end in headless Chromium: a real ``biosig serve`` with its bundled models, a real bridge
streaming the bundled Myo session into it, and the page in a real browser.

The page must connect, show a live label from the vocabulary, and take a vocabulary change into the live
results: a gesture added by its pose appears in the scores of the next results, and disappears after delete.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from firmware_bridge.replay import ReplayBridge
from firmware_bridge.uplink import Uplink
from tests.service.browser import CHROMIUM_ARGS, chromium_executable
from tests.service.live import LiveServer

MYO = Path(__file__).resolve().parents[2] / "biosig" / "assets" / "myo" / "12345-1"


@pytest.fixture()
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    path, why = chromium_executable()
    if path is None:
        pytest.skip(f"headless Chromium unavailable: {why}")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _stream_in_background(server: LiveServer, key: str, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        with ReplayBridge(MYO, index=7, speed=1.0, chunk_s=0.05, loop=True) as bridge:  # 7.txt: rest and fist
            with Uplink(f"ws://127.0.0.1:{server.port}/v1/stream", stream="armband", info=bridge.info,
                        wire=bridge.wire, api_key=key, device=bridge.describe(), labels=True) as uplink:  # fmt: skip
                for chunk in bridge.chunks():
                    uplink.send(chunk)
                    if stop.is_set():
                        return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_dashboard_shows_live_labels_and_a_vocabulary_change_takes_effect(browser, tmp_path):
    server = LiveServer(tmp_path / "service", tmp_path / "cache").start()
    stop = threading.Event()
    problems: list[str] = []
    try:
        key, _ = server.key("web")
        assert server.get("/readyz", key).json()["gestures"] is True, "the bundled gesture model must load"
        streamer = _stream_in_background(server, key, stop)
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on(
            "console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        )
        page.goto(f"{server.url}/dashboard#key={key}")
        assert "key=" not in page.url  # the key left the address bar

        # Live: a result arrived and its label is one of the vocabulary's gestures.
        page.wait_for_function("document.getElementById('status').textContent === 'live'", timeout=30_000)
        page.wait_for_selector("#vocab-list li[data-name='fist']", timeout=15_000)
        names = page.eval_on_selector_all("#vocab-list li", "els => els.map(e => e.dataset.name)")
        page.wait_for_function(
            "names => names.includes(document.getElementById('label').textContent)", arg=names, timeout=15_000
        )
        assert page.locator("#streams li[data-stream='armband']").count() == 1
        assert page.locator("#scores [data-gesture]").count() == len(names)

        # A gesture added by its pose takes effect in the live results.
        page.select_option("#add-base", "fist")
        page.wait_for_function("document.getElementById('add-pose').value.startsWith('[')", timeout=10_000)
        page.fill("#add-name", "claw")
        page.click("#add-btn")
        page.wait_for_selector("#vocab-list li[data-name='claw']", timeout=10_000)
        page.wait_for_selector("#scores [data-gesture='claw']", timeout=15_000)
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("BIOSIG_SCREENSHOT"):  # keep a copy for the docs / CI artefacts
            shutil.copy(shot, os.environ["BIOSIG_SCREENSHOT"])

        # ... and deleting it takes it out again.
        page.click("#vocab-list li[data-name='claw'] button")
        page.wait_for_selector("#vocab-list li[data-name='claw']", state="detached", timeout=10_000)
        page.wait_for_selector("#scores [data-gesture='claw']", state="detached", timeout=15_000)
        assert not problems, problems
        stop.set()
        streamer.join(30)
    finally:
        stop.set()
        server.stop()
