"""The HTML report in a real browser: Debian's headless Chromium, the network off.

Driven by playwright against the system's ``/usr/bin/chromium`` (playwright's own browser
download is never used). Every request that is not a ``file:`` URL is blocked and recorded;
the test fails if the page tried one. A screenshot is saved in the test's temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from astraguard_train.config import PipelineConfig
from astraguard_train.training.pipeline import Pipeline

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason=f"{CHROMIUM} not found: install Debian's chromium package (CI does, in .ci/run)",
)

#: Flags that start Chromium headless as root in a container, with nothing phoning home.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

PIPELINE = {
    # the test part starts at the epoch, as MSL's sample indices do: a date axis must still place
    # the series, alarms and events together
    "loader": {"name": "synthetic", "n_samples": 1200, "n_channels": 3,
               "start": "1969-12-31T23:50:00"},
    "split": {"strategy": "time", "test_size": 0.5},
    "train": {"group_by": "channel", "n_jobs": 1},
    "scaler": {"name": "none"},
    "model": {"name": "forecast", "target": "voltage", "window": 10},
    "threshold": {"name": "dynamic", "window": 200, "step": 20},
    "postprocess": {"merge_gap": 10, "min_event_length": 3},
}

#: The first path of the score line: what the timeline draws for the shown channel.
LINE = "document.querySelector('#timeline .scatterlayer .trace path.js-line')"


#: Per map chart: the points of its training and scored traces, and the SVG points drawn.
MAP_POINTS = """(id) => {
  const gd = document.getElementById(id);
  return [gd.data[0].x.length, gd.data[1].x.length,
          gd.querySelectorAll('.scatterlayer .point').length];
}"""

#: The number of shapes, the data's first and last x, and the axis range, in milliseconds.
SPANS = """() => {
  const gd = document.getElementById('timeline'), ax = gd._fullLayout.xaxis;
  const x = gd.data[0].x;
  return [gd.layout.shapes.length, [ax.d2l(x[0]), ax.d2l(x[x.length - 1])],
          ax.range.map(v => ax.r2l(v))];
}"""


def open_report(playwright, report: Path, profile: Path):
    """Open ``report`` in a fresh Chromium profile with every non-file request blocked.

    Returns ``(context, page, blocked, errors)``; ``blocked`` and ``errors`` fill as the page
    runs.
    """
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        offline=True, viewport={"width": 1280, "height": 900},
    )
    blocked: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(report.as_uri())
    return context, page, blocked, errors


def test_report_renders_offline_and_the_picker_switches_channels(tmp_path):
    from playwright.sync_api import sync_playwright

    result = Pipeline(PipelineConfig.from_dict(PIPELINE)).run(
        output=str(tmp_path / "models"), report=tmp_path / "report.html"
    )
    report = Path(result.report_path)
    with sync_playwright() as p:
        context, page, blocked, errors = open_report(p, report, tmp_path / "profile")
        try:
            for chart in ("timeline", "roc", "pr", "confusion", "map-pca", "map-tsne"):
                page.wait_for_selector(f"#{chart} svg.main-svg", timeout=20_000)
            for chart in ("map-pca", "map-tsne"):
                train, scored, drawn = page.evaluate(MAP_POINTS, chart)
                assert train > 100 and scored > 100
                assert drawn >= train + scored  # every sampled row is a point, marks on top
            assert "% of variance" in page.text_content("#map-pca .xtitle")
            # a point's hover: its score and threshold, time and channel
            hover = page.evaluate("document.getElementById('map-tsne').data[1].text[0]")
            assert "score" in hover and "threshold" in hover and "channel BUS-" in hover
            assert "1969-12-31" in hover or "1970-01-01" in hover
            page.wait_for_function(f"{LINE} && {LINE}.getAttribute('d').length > 100")
            first = page.evaluate(f"{LINE}.getAttribute('d')")
            title = page.text_content("#timeline .gtitle")
            assert title.startswith("BUS-1")
            # alarms and events are drawn as shapes, on the same stretch of axis as the data
            shapes, xs, span = page.evaluate(SPANS)
            assert shapes > 0
            assert span[0] <= xs[0] < xs[1] <= span[1]
            assert span[1] - span[0] < 1.5 * (xs[1] - xs[0])
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            page.select_option("#channel-picker", "2")
            page.wait_for_function(
                "document.getElementById('timeline').dataset.channel === 'BUS-3'"
            )
            assert page.text_content("#timeline .gtitle").startswith("BUS-3")
            assert page.evaluate(f"{LINE}.getAttribute('d')") != first
            page.screenshot(path=str(tmp_path / "report-bus3.png"))
        finally:
            context.close()
    assert blocked == []
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
