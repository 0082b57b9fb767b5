"""`dmarl view` in a real browser: the page loads, draws the agents and steps when asked.

Needs a headless Chromium from the distribution (``.ci/run`` installs the ``chromium`` package when
it is missing) and the page's scripts (fetched from a CDN by Solara, or served offline from the
``solara-assets`` package); skipped, saying which is missing, otherwise.
``DMARL_VIEW_SCREENSHOT=PATH`` keeps the screenshot (the one in docs/ was taken so).
"""

import io
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
from browser import Browser, assets_missing, find_chromium, save, wait_for_server

pytest.importorskip("solara", reason="the live view needs the viz extra")
pytest.importorskip("websockets", reason="the browser is driven over a websocket")

N_AGENTS = 60
ARGS = [
    "view",
    "scenarios/coverage.py",
    "--set",
    f"n_agents={N_AGENTS}",
    "--set",
    "horizon=60",
    "--set",
    "faults.crash.fraction=0.25",
    "--set",
    "faults.crash.start=at",
    "--set",
    "faults.crash.at=6",
    "--set",
    "net.loss.model=bernoulli",
    "--set",
    "net.loss.p=0.3",
    "--interval",
    "2",
]
SCENE = "document.querySelector('svg.dmarl-scene')"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_page_draws_the_swarm_in_chromium(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium; .ci/run does)")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-c", "import sys; from dmarl_des.cli import main; sys.exit(main())"]
    server = subprocess.Popen(
        [*command, *ARGS, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the server and its solara child stop together
    )
    browser = None
    try:
        wait_for_server(url, server)
        missing = assets_missing(url)
        if missing is not None:
            pytest.skip(
                "the page's scripts come from a CDN this machine cannot reach "
                f"({missing}); offline, pip install solara-assets"
            )
        browser = Browser(chromium, url)
        count = f"document.querySelectorAll('svg.dmarl-scene circle.agent').length === {N_AGENTS}"
        browser.wait_for(count)
        assert browser.evaluate(f"{SCENE}.dataset.time") == "0"
        for _ in range(4):  # to t = 8: a quarter of the UAVs crashed at t = 6
            time_before = browser.evaluate(f"{SCENE}.dataset.time")
            browser.evaluate(
                "[...document.querySelectorAll('button')]"
                ".find(b => b.textContent.trim() === 'Step').click()"
            )
            browser.wait_for(f"{SCENE}.dataset.time !== '{time_before}'")
        assert browser.evaluate(f"{SCENE}.dataset.time") == "8"
        crashed = browser.evaluate("document.querySelectorAll('circle.agent.crashed').length")
        assert crashed == N_AGENTS // 4
        assert browser.evaluate("document.querySelectorAll('line.link').length") > 0
        assert browser.evaluate("document.querySelectorAll('image.world-map').length") == 1
        assert browser.evaluate("document.querySelectorAll('svg.dmarl-chart').length") == 2
        png = browser.screenshot()
        save(png, tmp_path / "view.png")
        if os.environ.get("DMARL_VIEW_SCREENSHOT"):
            save(png, os.environ["DMARL_VIEW_SCREENSHOT"])
    finally:
        if browser is not None:
            browser.close()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    from PIL import Image

    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    blue = (np.abs(shot - np.array([43, 108, 176])).sum(axis=-1) < 30).sum()
    assert shot.shape[0] >= 600 and blue > 500  # the honest UAVs are on the screen
