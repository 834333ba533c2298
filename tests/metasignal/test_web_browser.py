"""The web pages in a real browser: headless Chromium driven over the DevTools protocol.

The app runs behind a real uvicorn server on a free port (in a thread); Chromium (the Debian
package, ``/usr/bin/chromium``) resolves no host but that server. Each page must load with no
console error, no uncaught exception and no failed request (a CSP violation or a 404 is
logged as an error), the plotly charts must draw (a screenshot of each chart is not blank),
the leaderboard must list the store's models and sort when a header is clicked or pressed
with the keyboard, and the private section must appear for the owner only.

Screenshots of the leaderboard, a model page and the fund page go to ``$METASIGNAL_SCREENSHOTS``
when set, else to the test's temporary folder (never into the repository).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from metasignal.api import create_app
from metasignal.web import install_web
from tests.metasignal.test_web import KEYS, PRIVATE, web_template  # noqa: F401 (the store fixture)
from tests.metasignal.live_server import live_server

websockets_sync = pytest.importorskip("websockets.sync.client", reason="websockets is a dev extra")
Image = pytest.importorskip("PIL.Image", reason="pillow is a dev extra")
ImageStat = pytest.importorskip("PIL.ImageStat", reason="pillow is a dev extra")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not found (apt-get install -y chromium; .ci/run does)")
WIDTH, HEIGHT = 1280, 900


class Browser:
    """One headless Chromium tab over the DevTools protocol: navigate, evaluate, click, press
    keys, take screenshots, and collect every console error, exception and failed request."""

    def __init__(self, executable: str, profile: Path):
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--window-size={WIDTH},{HEIGHT}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        endpoint = self._devtools_endpoint()
        port = re.search(r":(\d+)/", endpoint).group(1)
        pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json() if t["type"] == "page"]
        self.ws = websockets_sync.connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.errors: list[str] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)

    def _devtools_endpoint(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                threading.Thread(target=self.process.stderr.read, daemon=True).start()  # keep the pipe drained
                return found.group(1)
        raise RuntimeError("chromium did not announce its DevTools endpoint")

    def _note(self, event: dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append("exception: " + details.get("exception", {}).get("description", details.get("text", "")))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            self.errors.append(f"request failed: {params.get('errorText')}")
        self.events.append(event)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run a DevTools command and return its result (events meanwhile are collected)."""
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._note(message)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        """The next event ``method`` (collecting the others)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            self._note(message)
            if message.get("method") == method:
                return message
        raise TimeoutError(method)

    def open(self, url: str) -> None:
        """Load ``url`` and wait for its load event and for its charts to draw."""
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        self.wait_until("Array.from(document.querySelectorAll('figure.chart')).every(f => f.querySelector('.main-svg'))")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(expression)
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """A real mouse click at the centre of the element ``selector`` (scrolled into view)."""
        box = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView("
                            "{block: 'center'}); const r = e.getBoundingClientRect(); "
                            "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def press(self, key: str, code: str, key_code: int) -> None:
        """Press and release a key on the focused element."""
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key=key, code=code, windowsVirtualKeyCode=key_code,
                      **({"text": "\r"} if kind == "keyDown" and key == "Enter" else {}))

    def screenshot(self, path: Path | None = None, selector: str | None = None) -> bytes:
        """A PNG of the whole page (or of the element ``selector``), written to ``path`` if given."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if selector is not None:
            box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                                ".getBoundingClientRect(); return [r.x + scrollX, r.y + scrollY, r.width, r.height]; })()")
            params["clip"] = {"x": box[0], "y": box[1], "width": box[2], "height": box[3], "scale": 1}
        data = base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])
        if path is not None:
            path.write_bytes(data)
        return data

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _pixel_spread(png: bytes) -> tuple[float, int]:
    """(grey-level variance, number of distinct colours) of a PNG: a blank image has ~0 and 1."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    return ImageStat.Stat(image.convert("L")).var[0], len(colours)


@pytest.fixture(scope="module")
def server(web_template, tmp_path_factory) -> Iterator[str]:  # noqa: F811
    """The app (API and pages) on a copy of the web store, behind uvicorn on a free port."""
    path = tmp_path_factory.mktemp("web_browser") / "web.duckdb"
    shutil.copy(web_template, path)
    app = create_app(path)
    install_web(app, app.state.service)
    with live_server(app) as (url, _server):
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[Browser]:
    chromium = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture
def tab(browser) -> Browser:
    """The browser with no cookie and no error collected yet."""
    browser.send("Network.clearBrowserCookies")
    browser.send("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
    browser.errors.clear()
    return browser


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("METASIGNAL_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sign_in(tab: Browser, server: str, user: str, next_path: str) -> None:
    tab.open(f"{server}/signin?next={next_path}")
    tab.evaluate(f"document.getElementById('key').value = {json.dumps(KEYS[user])}")
    tab.click("form.stack button[type=submit]")
    tab.wait_for("Page.loadEventFired")
    tab.wait_until(f"location.pathname === {json.dumps(next_path)} && document.readyState === 'complete'")


def _column(tab: Browser, table: str, index: int) -> list[str]:
    return tab.evaluate(f"Array.from(document.querySelectorAll('#{table} tbody tr'))"
                        f".map(r => r.children[{index}].getAttribute('data-value'))")


def test_every_page_loads_without_console_errors_and_its_charts_draw(tab, server, shots):
    day = httpx.get(f"{server}/rounds", timeout=30).text.split('href="/rounds/', 1)[1].split('"', 1)[0]
    pages = {"leaderboard": "/", "model": "/models/skilled", "rounds": "/rounds", "round": f"/rounds/{day}",
             "fund": "/fund", "signin": "/signin"}
    for name, path in pages.items():
        tab.open(server + path)
        assert tab.errors == [], (path, tab.errors)
        assert tab.evaluate("document.querySelector('main h1').textContent.length > 0")
        charts = tab.evaluate("document.querySelectorAll('figure.chart').length")
        assert charts == {"model": 3, "fund": 2}.get(name, 0), (path, charts)
        for position in range(charts):
            tab.evaluate(f"document.querySelectorAll('figure.chart')[{position}].id = 'chart-{position}'")
            variance, colours = _pixel_spread(tab.screenshot(selector=f"#chart-{position}"))
            assert variance > 50 and colours > 20, (path, position, variance, colours)
            assert tab.evaluate(f"document.querySelectorAll('#chart-{position} .scatterlayer .trace').length") > 0
        if name in ("leaderboard", "model", "fund"):
            tab.screenshot(shots / f"{name}.png")
    for name in ("leaderboard", "model", "fund"):
        variance, _ = _pixel_spread((shots / f"{name}.png").read_bytes())
        assert variance > 50, name


def test_the_leaderboard_lists_the_models_and_sorts_by_mouse_and_keyboard(tab, server):
    tab.open(server + "/")
    models = tab.evaluate("Array.from(document.querySelectorAll('#leaderboard tbody th')).map(c => c.textContent)")
    assert sorted(models) == sorted(["skilled", "momentum_tilt", "size_tilt", "noise", "copycat", "churner", "partial"])
    corr = list(tab.evaluate("Array.from(document.querySelectorAll('#leaderboard thead th')).map(h => h.dataset.key)"))
    index = corr.index("corr")
    tab.click("#leaderboard thead th[data-key=corr] button")
    values = [float(v) for v in _column(tab, "leaderboard", index)]
    assert values == sorted(values, reverse=True)
    assert tab.evaluate("document.querySelector('#leaderboard th[data-key=corr]').getAttribute('aria-sort')") == "descending"
    tab.click("#leaderboard thead th[data-key=corr] button")
    assert [float(v) for v in _column(tab, "leaderboard", index)] == sorted(values)
    # keyboard: focus the model header's button and press Enter; text sorts A to Z
    tab.evaluate("document.querySelector('#leaderboard th[data-key=model] button').focus()")
    tab.press("Enter", "Enter", 13)
    names = _column(tab, "leaderboard", 1)
    assert names == sorted(names)
    assert tab.evaluate("document.querySelector('#leaderboard th[data-key=model]').getAttribute('aria-sort')") == "ascending"
    # the scores read as the CLI prints them: mean ±95 % HAC half-width, ~0 when not different from 0
    texts = tab.evaluate(f"Array.from(document.querySelectorAll('#leaderboard tbody tr'))"
                         f".map(r => r.children[{index}].innerText)")
    assert all(re.fullmatch(r"-?\d\.\d{4}\s±\d\.\d{4}(\u00a0~0)?", t) for t in texts), texts
    assert any(t.endswith("~0") for t in texts) and not all(t.endswith("~0") for t in texts)
    assert tab.evaluate("document.body.innerText.includes('not distinguishable from zero at 5 %')")
    # the default columns fit a 1280 px window: the table region does not scroll sideways
    assert tab.evaluate("(() => { const r = document.querySelector('#leaderboard').closest('.scroll'); "
                        "return r.scrollWidth <= r.clientWidth + 1; })()")
    # secondary columns: hidden at this width until "all columns" is ticked
    assert tab.evaluate("getComputedStyle(document.querySelector('#leaderboard th[data-key=churn]')).display") == "none"
    tab.click("input[data-wide-for=leaderboard]")
    assert tab.evaluate("getComputedStyle(document.querySelector('#leaderboard th[data-key=churn]')).display") == "table-cell"
    assert tab.errors == []


def test_the_model_page_shows_its_mean_scores_with_intervals(tab, server):
    tab.open(server + "/models/noise")
    rows = tab.evaluate("Array.from(document.querySelectorAll('#model-means tbody tr')).map(r => r.innerText)")
    assert [r.split("\t")[0] for r in rows] == ["corr", "mmc", "fnc", "alpha", "mpc"]
    # the paid rounds' default columns (scores, percentile, churn and turnover against their
    # limits, payout) fit a 1280 px window
    widths = tab.evaluate("(() => { const r = document.querySelector('#model-rounds').closest('.scroll'); "
                          "return [r.scrollWidth, r.clientWidth]; })()")
    assert widths[0] <= widths[1] + 1, widths
    assert all("±" in r for r in rows) and any("~0" in r for r in rows), rows
    assert tab.errors == []


def test_pages_fit_a_narrow_screen(tab, server):
    tab.send("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
    for path in ("/", "/models/skilled", "/fund"):
        tab.open(server + path)
        assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
    assert tab.errors == []


def test_the_owner_sees_the_private_section_and_another_user_does_not(tab, server, shots):
    tab.open(server + "/models/skilled")
    assert not tab.evaluate("!!document.getElementById('private')")
    _sign_in(tab, server, "examples", "/models/skilled")
    assert tab.evaluate("document.querySelector('.account .who').textContent") == "Signed in as examples"
    assert tab.evaluate(f"document.body.innerText.includes({json.dumps(PRIVATE)})")
    assert tab.evaluate("document.querySelectorAll('#model-submissions tbody tr').length") > 5
    assert tab.evaluate("document.cookie") == ""  # HttpOnly: no script reads the session
    tab.screenshot(shots / "model_owner.png")
    tab.click("nav form.inline button")  # sign out
    tab.wait_for("Page.loadEventFired")
    tab.wait_until("location.pathname === '/' && document.readyState === 'complete'")
    assert tab.evaluate("document.querySelector('.account a').textContent") == "Sign in"

    _sign_in(tab, server, "bob", "/models/skilled")
    assert tab.evaluate("document.querySelector('.account .who').textContent") == "Signed in as bob"
    assert not tab.evaluate("!!document.getElementById('private')")
    assert not tab.evaluate(f"document.body.innerText.includes({json.dumps(PRIVATE)})")
    assert tab.errors == []
