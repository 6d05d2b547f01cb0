"""The HTML reports rendered by a real browser: Debian's Chromium, headless, driven by Playwright.

Each page must load with no console error (Chromium reports malformed SVG, e.g. a NaN width, as one), fetch
nothing but itself, and show its charts with marks in them. Screenshots go to build/html-screenshots/.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "build" / "html-screenshots"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is needed for the HTML report tests: `apt-get install chromium` (make test and .ci/run "
                    "install it)")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")   # a fresh --user-data-dir
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True,
                                                        args=FLAGS, viewport={"width": 1000, "height": 800})
        yield context
        context.close()


def _render(browser, page_path: Path, shot: str) -> dict:
    page = browser.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_path.resolve().as_uri(), wait_until="load")
    charts = page.locator("svg.chart")
    found = {}
    for i in range(charts.count()):
        chart = charts.nth(i)
        box = chart.bounding_box()
        found[chart.get_attribute("data-chart")] = {"marks": chart.locator(".mark").count(),
                                                    "width": box["width"] if box else 0,
                                                    "height": box["height"] if box else 0}
    text = page.inner_text("body")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    page.close()
    return {"problems": problems, "requests": requests, "charts": found, "text": text}


def _assert_clean(result: dict, page_path: Path, charts: set[str]) -> None:
    assert result["problems"] == [], result["problems"]
    assert result["requests"] == [page_path.resolve().as_uri()], result["requests"]   # nothing from the network
    assert charts <= set(result["charts"]), (charts, result["charts"])
    for kind, c in result["charts"].items():
        assert c["marks"] > 0 and c["width"] > 100 and c["height"] > 40, (kind, c)
    assert "NaN" not in result["text"] and "None" not in result["text"]


def _self_contained(html: str) -> None:
    # The one URL allowed is the SVG namespace; no src/href but inline PNGs (data: URIs, the task section's
    # drawn samples), no @import, no url(...)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    links = re.findall(r"\b(?:src|href)\s*=\s*[\"']?([^\"'\s>]{0,30})", html)
    assert all(link.startswith("data:image/png;base64,") for link in links), links
    assert "@import" not in html and "url(" not in html


def test_compare_page(browser, tmp_path, run_cli, example_models, example):
    out = tmp_path / "compare.html"
    code, _, err = run_cli("compare", example_models["float32"], example_models["int8"], "--data",
                           example / "eval", "--samples", "200", "--html", out)
    assert code == 0, err
    _self_contained(out.read_text())
    result = _render(browser, out, "compare")
    _assert_clean(result, out, {"accuracy", "per-class", "confusion", "latency", "size"})
    assert result["charts"]["confusion"]["marks"] == 100   # 10 x 10 cells
    assert result["charts"]["per-class"]["marks"] == 20    # 10 classes x (float, int8)
    assert "top-1 drop" in result["text"]


def test_bench_page(browser, tmp_path, run_cli, example_models):
    out = tmp_path / "bench.html"
    code, _, err = run_cli("bench", example_models["int8"], "--reference", example_models["float32"],
                           "--threads", "1,2", "--runs", "40", "--warmup", "2", "--html", out)
    assert code == 0, err
    _self_contained(out.read_text())
    result = _render(browser, out, "bench")
    _assert_clean(result, out, {"latency", "latency-median", "size"})
    assert result["charts"]["latency"]["marks"] == 4          # model and reference x 1, 2 threads
    assert result["charts"]["latency-median"]["marks"] == 4


def test_check_page_shows_the_failed_budget(browser, tmp_path, run_cli, example_models, example):
    cfg = tmp_path / "edgelite.toml"
    cfg.write_text(textwrap.dedent(f"""
        [latency]
        rounds = 5
        [[models]]
        name = "mnist"
        tflite = "{example_models['int8']}"
        reference = "{example_models['float32']}"
        eval = "{example / 'eval'}"
        eval_samples = 100
        [models.budgets]
        max_latency_growth_pct = 50
        min_agreement = 0.95
    """))
    assert run_cli("check", "--config", cfg, "--update-baseline")[0] == 0
    cfg.write_text(cfg.read_text() + "max_size_bytes = 1000\n")
    out = tmp_path / "check.html"
    code, _, err = run_cli("check", "--config", cfg, "--html", out, "--json", tmp_path / "c.json")
    assert code == 1 and "max_size_bytes" in err
    _self_contained(out.read_text())
    result = _render(browser, out, "check")
    _assert_clean(result, out, {"size", "latency-normalized", "latency", "latency-rounds", "accuracy", "per-class",
                                "confusion"})
    assert "FAIL · 1 budget(s) broken" in result["text"]
    report = json.loads((tmp_path / "c.json").read_text())
    assert result["charts"]["latency-rounds"]["marks"] == 1 and report["models"][0]["latency"]["rounds"] == 5


def test_analyze_page(browser, tmp_path, run_cli, example):
    out = tmp_path / "analyze.html"
    code, _, err = run_cli("analyze", example / "model.keras", "--calib", example / "calib", "--samples", "50",
                           "--eval", example / "eval", "--eval-samples", "50", "--html", out)
    assert code == 0, err
    _self_contained(out.read_text())
    result = _render(browser, out, "analyze")
    _assert_clean(result, out, {"layer-contribution", "layer-snr"})
    assert result["charts"]["layer-contribution"]["marks"] >= 4   # conv1, conv2, fc1, probability at least


def test_the_browser_check_can_fail(browser, tmp_path):
    """The same checks on a page with a malformed chart and an external image: both are caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><svg class="chart" data-chart="x" width="200" height="50">'
                   '<rect class="mark" width="NaN" height="10"/></svg></body></html>')
    result = _render(browser, bad, "broken-example")
    assert any("NaN" in p for p in result["problems"]), result["problems"]
    with pytest.raises(AssertionError):
        _self_contained('<img src="https://example.com/x.png">')
    with pytest.raises(AssertionError):
        _self_contained('<img src="x.png">')   # a relative link, to a file that travels apart from the page


def test_unknown_html_output_folder_fails_before_the_run(tmp_path, run_cli, example_models):
    code, _, err = run_cli("bench", example_models["int8"], "--html", tmp_path / "no" / "b.html")
    assert code == 2 and "output folder" in err and "does not exist" in err
