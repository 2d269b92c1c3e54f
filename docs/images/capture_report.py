"""Screenshots of an HTML report for docs/report.md, taken with Debian's headless Chromium.

    astraguard-train run examples/msl.toml --set loader.path=../shared/data/msl.csv.gz \\
        --output /tmp/models --report /tmp/msl.html
    python docs/images/capture_report.py /tmp/msl.html docs/images

Writes ``report-timeline.png`` (the summary and a channel's timeline), ``report-evaluation.png``
(curves, confusion matrix, event table), ``report-drift.png`` and ``report-map.png`` (the map
of the data). Needs playwright and
``/usr/bin/chromium``; every request that is not a ``file:`` URL is refused.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def main(report: Path, out: Path, channel: str = "T-5") -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path="/usr/bin/chromium", headless=True, args=ARGS,
            offline=True, viewport={"width": 1280, "height": 900},
        )
        context.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
        )
        page = context.new_page()
        page.goto(report.resolve().as_uri())
        page.wait_for_selector("#confusion svg.main-svg")
        page.wait_for_selector("#map-tsne svg.main-svg")
        labels = page.eval_on_selector_all("#channel-picker option", "o => o.map(x => x.text)")
        index = next(i for i, label in enumerate(labels) if label.startswith(channel))
        page.select_option("#channel-picker", str(index))
        page.wait_for_function(f"document.getElementById('timeline').dataset.channel === "
                               f"'{channel}'")
        page.locator("#timeline-section").scroll_into_view_if_needed()
        page.screenshot(path=str(out / "report-timeline.png"))
        for name, anchor in (("evaluation", "#roc"), ("drift", "#drift-section"),
                             ("map", "#map-section")):
            page.locator(anchor).scroll_into_view_if_needed()
            page.evaluate(f"document.querySelector('{anchor}').scrollIntoView()")
            page.screenshot(path=str(out / f"report-{name}.png"))
        context.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])
