"""Headless Chromium for the HTML dashboard tests, driven over the DevTools protocol on a pipe (no network,
no driver package): open a written report, read what the browser draws (each chart mark's aria-label, the
tile texts), click tabs and selectors. The `browser` fixture in conftest.py starts one per test session."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from orchestration.bi import charts
from orchestration.bi.compiler import CompiledSpecs
from orchestration.bi.specs import DashboardSpec


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    reason = "chromium not installed (.ci/run installs it with apt-get install chromium)"
    if os.environ.get("LEAD_ANALYTICS_REQUIRE_CHROMIUM"):  # set by .ci/run: in CI a skip must not pass
        pytest.fail(reason)
    pytest.skip(reason)


class Browser:
    """Headless Chromium with `--remote-debugging-pipe` (fd 3 in, fd 4 out), one tab per page."""

    def __init__(self, profile: Path):
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            ["sh", "-c", 'exec "$@" 3<&0 4>&1 </dev/null >/dev/null', "sh", chromium(), *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.buffer = b""
        self.next_id = 0

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.proc.stdin.write(json.dumps(message).encode() + b"\0")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self.buffer:
                ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise TimeoutError(f"chromium did not answer {method}")
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium exited")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        self.call("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + 30
        while not page.eval("document.readyState === 'complete' && document.body !== null"):
            assert time.monotonic() < deadline, "page did not load"
            time.sleep(0.05)
        return page

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
            self.proc.wait(timeout=10)
        except (TimeoutError, RuntimeError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class Page:
    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session

    def eval(self, expression: str) -> Any:
        result = self.browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        import base64

        shot = self.browser.call(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, self.session
        )
        path.write_bytes(base64.b64decode(shot["data"]))


# What the browser shows of every tile: visible or not, its charts' marks (aria-labels), texts.
TILES_JS = """
(() => Array.from(document.querySelectorAll('section.card')).map(card => {
  const shown = el => el.checkVisibility();
  const figures = Array.from(card.querySelectorAll('figure.chart')).filter(shown).map(fig => {
    const box = fig.querySelector('svg').getBoundingClientRect();
    const marks = Array.from(fig.querySelectorAll('[role="graphics-symbol"]')).filter(el =>
      !['axis', 'legend', 'title'].includes(el.getAttribute('aria-roledescription')));
    return {width: box.width, height: box.height, marks: marks.map(m => m.getAttribute('aria-label')),
            kinds: marks.map(m => m.getAttribute('aria-roledescription')),
            texts: Array.from(fig.querySelectorAll('g.mark-text.role-mark text')).map(t => t.textContent)};
  });
  const text = sel => { const el = card.querySelector(sel); return el && shown(el) ? el.textContent : null; };
  return {key: card.dataset.card, display: card.dataset.display, visible: shown(card), figures: figures,
          value: text('.option:not([hidden]) .value, .body > .scalar .value'), caption: text('.caption'),
          compare: text('.compare'), windows: Array.from(card.querySelectorAll('.window')).map(w => w.textContent),
          desc: text('.subtitle .desc'), filters: text('.subtitle .dates'), subtitle: text('.subtitle'),
          notNarrowed: Array.from(card.querySelectorAll('.not-narrowed .ignored')).map(n => n.textContent),
          selected: card.dataset.selected || null,
          noData: Array.from(card.querySelectorAll('.no-data')).filter(shown).map(n => n.textContent)};
}))()
"""


def tiles(page: Page) -> dict[str, dict]:
    return {t["key"]: t for t in page.eval(TILES_JS)}


def open_report(browser: Browser, path: Path) -> Page:
    """Open a written report and keep a screenshot beside it (handy when a test fails)."""
    page = browser.open(path.as_uri())
    page.screenshot(path.with_suffix(".png"))
    return page


def tiles_per_tab(page: Page, dashboard: DashboardSpec) -> dict[str | None, dict[str, dict]]:
    """Click through the dashboard's tabs (none: the one page) and return, per tab, the tiles then visible."""
    shown: dict[str | None, dict[str, dict]] = {}
    for tab in dashboard.tabs or [None]:
        if tab is not None:
            page.eval(f"document.getElementById('tab-button-{tab.key}').click()")
            assert page.eval("document.body.dataset.tab") == tab.key
        shown[tab.key if tab else None] = {k: t for k, t in tiles(page).items() if t["visible"]}
    return shown


def assert_every_card_drawn(
    page: Page, dashboard: DashboardSpec, displays: dict[str, str], empty: frozenset[str] = frozenset()
) -> dict[str, dict]:
    """Every card of the dashboard shows on its own tab and nowhere else; every chart is drawn with marks
    (a heatmap with all 7 x 24 cells), except the charts in `empty`, which say "No data"; no tile says its
    query failed. Returns the tiles by card key."""
    assert page.eval("document.body.dataset.ready") == "true"
    assert page.eval("document.querySelectorAll('.error, .failed').length") == 0
    per_tab = tiles_per_tab(page, dashboard)
    found: dict[str, dict] = {}
    for placement in dashboard.cards:
        if not placement.card:
            continue
        tabs = [tab for tab, shown in per_tab.items() if placement.card in shown]
        assert tabs == [placement.tab], (placement.card, tabs)
        tile = per_tab[placement.tab][placement.card]
        if displays[placement.card] in charts.CHART_DISPLAYS:
            assert bool(tile["noData"]) == (placement.card in empty), (placement.card, tile["noData"])
        if displays[placement.card] in charts.CHART_DISPLAYS and placement.card not in empty:
            [figure] = tile["figures"]
            assert figure["width"] > 100 and figure["height"] > 80 and figure["marks"], placement.card
            if displays[placement.card] == "heatmap":
                assert len(figure["marks"]) == 7 * 24, (placement.card, len(figure["marks"]), figure["marks"][:30])
        found[placement.card] = tile
    return found


def draw_dashboard(
    browser: Browser,
    info,
    specs: CompiledSpecs,
    dashboard: DashboardSpec,
    filters: dict,
    out_dir: Path,
    empty: frozenset[str] = frozenset(),
) -> dict[str, dict]:
    """Write the dashboard's HTML report with `filters` from the warehouse `info`, open it, and check that every
    card is drawn on its tab (assert_every_card_drawn); returns the tiles by card key."""
    from orchestration.bi import html_report

    report = html_report.build_report(info, specs.cards, dashboard, filters)
    page = open_report(browser, report.write(out_dir))
    return assert_every_card_drawn(page, dashboard, {k: v.display for k, v in specs.cards.items()}, empty)
