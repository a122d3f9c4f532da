"""The report as a reader sees it: the page rendered by headless Chromium at 1280 px, its layout measured
from the rendered page (the summary does not overflow sideways, every figure is drawn inside the window, the
answer's costs and CO2 are in view), the script-free sorting and column choice working, and a screenshot of
the summary for the docs (docs/img/report-summary.png, refreshed with COSTSIM_UPDATE_DOCS_IMAGES=1).

Chromium is Debian's ``chromium`` package (CI installs it); without it the test is skipped, except under CI
(CI=true), where a missing browser is a failure."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1280, 900

# Measures the page once it is laid out and writes the numbers into the DOM, where --dump-dom prints them.
# The script goes into a copy of the page made for the test; the report itself has no script.
CHECK = """
<script>
addEventListener("load", () => {
  const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top,
                                                               bottom: r.bottom, width: r.width, height: r.height}; };
  const s = document.getElementById("summary");
  const out = {viewport: innerWidth, page_scroll: document.documentElement.scrollWidth,
               summary: {scroll: s.scrollWidth, client: s.clientWidth},
               wraps: [...s.querySelectorAll(".table-wrap")].map(w => ({scroll: w.scrollWidth, client: w.clientWidth})),
               figures: [...document.querySelectorAll("figure")].map(f => {
                 const g = f.querySelector("svg, img");
                 return {box: box(g), natural: g.tagName === "IMG" ? g.naturalWidth : g.getBBox().width};
               }),
               answer_heads: [...s.querySelectorAll(".answer th")].map(th => ({text: th.textContent, box: box(th)}))};
  const visible = () => [...document.querySelectorAll(".explorer details")[0].querySelectorAll("tbody.view")]
      .filter(t => getComputedStyle(t).display !== "none").map(t => t.className);
  out.views_at_first = visible();
  document.getElementById("t-sort-time").checked = true;
  out.views_by_time = visible();
  const cost = () => getComputedStyle(document.querySelector(".explorer th.k-cost-usd")).display;
  out.cost_column_at_first = cost();
  document.getElementById("t-col-cost-usd").checked = false;
  out.cost_column_unticked = cost();
  const memory = () => getComputedStyle(document.querySelector(".explorer td.k-peak-memory-bytes")).display;
  out.memory_column_at_first = memory();
  const pre = document.createElement("pre");
  pre.id = "layout-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI must run the browser test (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return found


def _run(browser: str, profile: Path, *args: str) -> str:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
           f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    browser = _chromium()
    folder = tmp_path_factory.mktemp("report")
    r = CliRunner().invoke(main, ["report", "sweep-demo", "--out", str(folder / "out"), "--quiet"])
    assert r.exit_code == 0, r.output
    page = (folder / "out" / "index.html").read_text()
    assert "<script" not in page
    check = folder / "out" / "check.html"
    check.write_text(page.replace("</body>", CHECK + "</body>"))
    dom = _run(browser, folder / "profile-dom", "--run-all-compositor-stages-before-draw",
               "--virtual-time-budget=10000", "--dump-dom", check.as_uri())
    found = re.search(r'<pre id="layout-check">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    shot = folder / "summary.png"
    _run(browser, folder / "profile-shot", f"--screenshot={shot}", (folder / "out" / "index.html").as_uri())
    text = found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text), shot


def test_the_summary_fits_1280_px_without_sideways_scrolling(rendered):
    m, _ = rendered
    assert m["viewport"] == WIDTH
    assert m["page_scroll"] <= WIDTH
    assert m["summary"]["scroll"] <= m["summary"]["client"]
    for wrap in m["wraps"]:
        assert wrap["scroll"] <= wrap["client"], wrap


def test_the_answer_shows_cost_and_co2_in_the_first_screen(rendered):
    m, _ = rendered
    heads = {h["text"]: h["box"] for h in m["answer_heads"]}
    for name in ("scenario", "training time", "cost", "CO2"):
        assert name in heads, heads
        assert heads[name]["right"] <= WIDTH and heads[name]["bottom"] <= HEIGHT, (name, heads[name])


def test_every_figure_is_drawn_inside_the_window(rendered):
    m, _ = rendered
    assert len(m["figures"]) >= 3
    for f in m["figures"]:
        assert f["natural"] > 0 and f["box"]["width"] > 200 and f["box"]["height"] > 100, f
        assert f["box"]["left"] >= 0 and f["box"]["right"] <= WIDTH, f


def test_sorting_and_columns_work_without_a_script(rendered):
    m, _ = rendered
    assert m["views_at_first"] == ["view by-cost"]
    assert m["views_by_time"] == ["view by-time"]
    assert m["cost_column_at_first"] != "none" and m["cost_column_unticked"] == "none"
    assert m["memory_column_at_first"] == "none"  # shown only when asked for


def test_a_screenshot_of_the_summary_for_the_docs(rendered):
    _, shot = rendered
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    # the docs' copy is refreshed on request only, so that a test run leaves the checkout as it was:
    # COSTSIM_UPDATE_DOCS_IMAGES=1 python -m pytest tests/output/test_report_browser.py
    if os.environ.get("COSTSIM_UPDATE_DOCS_IMAGES") == "1":
        (ROOT / "docs" / "img" / "report-summary.png").write_bytes(data)
