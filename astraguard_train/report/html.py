"""Rendering a :class:`~astraguard_train.report.data.ReportData` as one self-contained HTML file.

The page needs no server and no network: plotly's script is embedded once, the series travel
as base64 of little-endian float arrays inside a ``<script type="application/json">`` block,
and a small script of ours draws the charts and switches the timeline when another channel
is picked. Tables are plain HTML. The file is written atomically (a temporary file beside
it, flushed to disk, then renamed over the target).
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle.group_files import n_groups
from ..errors import MissingExtraError, OutputError
from ..plain_values import jsonable
from .data import EventTable, ReportData
from .map_view import MapView

#: Rows a table shows at most (the rest are counted, not listed).
TABLE_ROWS = 500

#: Metrics shown first in the summary, when the run has them.
HEADLINE = (
    "event_f1", "event_precision", "event_recall", "n_events", "n_events_detected",
    "n_flagged_runs", "detection_delay_mean", "roc_auc", "pr_auc", "f1", "precision",
    "recall", "flagged_share",
)


def plotly_offline() -> Any:
    """plotly's ``offline`` module.

    :raises MissingExtraError: when plotly is not installed, naming the extra that brings it.
    """
    try:
        import plotly.offline
    except ImportError:
        raise MissingExtraError(
            "the HTML report needs plotly, which is not installed: "
            "pip install 'astraguard-train[report]'"
        ) from None
    return plotly.offline


def plotly_js() -> str:
    """plotly's script, to embed (see :func:`plotly_offline` for its error)."""
    return str(plotly_offline().get_plotlyjs())


def _b64(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def _spans(spans: np.ndarray) -> list[list[float]]:
    return np.round(spans, 3).tolist()


def _payload(data: ReportData) -> dict[str, Any]:
    out: dict[str, Any] = {"axis": data.time_axis, "timelines": []}
    for t in data.timelines:
        out["timelines"].append({
            "name": t.name, "n": t.n_rows,
            "x": _b64(t.x, "<f8"), "s": _b64(t.scores, "<f4"), "t": _b64(t.thresholds, "<f4"),
            "alarms": _spans(t.alarms), "events": _spans(t.events),
        })
    if data.curves is not None:
        c = data.curves
        out["roc"] = {"x": _b64(c.fpr, "<f4"), "y": _b64(c.tpr, "<f4"), "auc": c.roc_auc}
        out["pr"] = {"x": _b64(c.recall, "<f4"), "y": _b64(c.precision, "<f4"), "auc": c.pr_auc}
    if data.confusion is not None:
        out["confusion"] = data.confusion
    if data.data_map is not None:
        out["map"] = _map_payload(data.data_map)
    return out


def _map_payload(m: MapView) -> dict[str, Any]:
    def side(pca: np.ndarray, tsne: np.ndarray, tsne_at: np.ndarray, x: np.ndarray,
             ch: np.ndarray | None) -> dict[str, Any]:
        return {"pca": _b64(pca, "<f4"), "tsne": _b64(tsne, "<f4"),
                "tsne_at": _b64(tsne_at, "<i4"), "x": _b64(x, "<f8"),
                "ch": None if ch is None else _b64(ch, "<i4")}

    scored = side(m.scored_pca, m.scored_tsne, m.scored_tsne_at, m.scored_x, m.scored_channel)
    scored.update(s=_b64(m.scores, "<f4"), t=_b64(m.thresholds, "<f4"),
                  flag=_b64(m.flags, "u1"),
                  label=None if m.labels is None else _b64(m.labels == 1, "u1"))
    # the colour scale spans the 5th to 95th percentile, so a few huge scores (alarms are
    # drawn first into the sample) do not make every other point the same colour
    lo, hi = (np.percentile(m.scores, [5, 95]).tolist() if m.scores.size else (0.0, 1.0))
    return {
        "explained": m.explained.tolist(), "channels": list(m.channels),
        "train": side(m.train_pca, m.train_tsne, m.train_tsne_at, m.train_x, m.train_channel),
        "scored": scored, "cmin": lo, "cmax": hi if hi > lo else lo + 1.0,
    }


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return _e(value)


def _table(
    head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "", row_cls: Sequence[str] = ()
) -> str:
    """An HTML table; cells are HTML already (escape before)."""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = []
    for i, row in enumerate(rows):
        rc = f' class="{row_cls[i]}"' if i < len(row_cls) and row_cls[i] else ""
        body.append(f"<tr{rc}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    rows_html = "".join(body)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{rows_html}</tbody></table>'


def _when(x: float, axis: str) -> str:
    if axis == "date":
        return str(np.datetime64(int(round(x)), "ms")).replace("T", " ")
    return str(int(x))


def _event_rows(t: EventTable, axis: str, names: dict[str, int], events: bool) -> str:
    head = ["channel", "start", "end", "rows"]
    if events:
        head += ["found", "delay (rows)", "delay (s)"]
    if t.why is not None:
        head.append("why: top features at the alarm's peak")
    rows, classes = [], []
    for i in range(min(t.n, TABLE_ROWS)):
        ch = str(t.channel[i])
        cell = (
            f'<a href="#timeline-section" class="jump" data-timeline="{names.get(ch, 0)}" '
            f'data-x0="{t.start[i]}" data-x1="{t.end[i]}">{_e(ch)}</a>'
        )
        row = [cell, _e(_when(t.start[i], axis)), _e(_when(t.end[i], axis)), _num(int(t.rows[i]))]
        if events:
            assert t.found is not None and t.delay_rows is not None
            found = bool(t.found[i])
            secs = t.delay_seconds[i] if t.delay_seconds is not None else None
            row += [
                "found" if found else "<b>missed</b>",
                _num(float(t.delay_rows[i])) if found else "–",
                _num(float(secs)) if found and secs is not None else "–",
            ]
            classes.append("" if found else "missed")
        if t.why is not None:
            row.append(_e(str(t.why[i])) or "–")
        rows.append(row)
    more = f"<p class='note'>first {TABLE_ROWS} of {t.n} shown</p>" if t.n > TABLE_ROWS else ""
    return _table(head, rows, "events", classes) + more


def _metrics_section(data: ReportData) -> str:
    m = data.metrics
    keys = [k for k in HEADLINE if k in m] + sorted(k for k in m if k not in HEADLINE)
    cells = "".join(
        f'<div class="metric"><span>{_e(k)}</span><b>{_num(m[k])}</b></div>' for k in keys
    )
    return f'<div class="metrics">{cells or "<p>no metrics (no labels)</p>"}</div>'


def _evaluation_section(data: ReportData, names: dict[str, int]) -> str:
    parts = ["<h2>Evaluation</h2>"]
    if data.confusion is None:
        parts.append("<p class='note'>The scored rows have no labels: no curves, confusion "
                     "matrix or event table.</p>")
        return "\n".join(parts)
    charts = ['<div class="chart small" id="confusion"></div>']
    if data.curves is not None:
        charts = ['<div class="chart small" id="roc"></div>',
                  '<div class="chart small" id="pr"></div>', *charts]
    else:
        parts.append("<p class='note'>One class only among the labels: no ROC or PR curve.</p>")
    parts.append(f'<div class="row">{"".join(charts)}</div>')
    if data.events is not None and data.false_alarms is not None:
        ev, fa = data.events, data.false_alarms
        assert ev.found is not None
        parts.append(
            f"<h3>Labelled events: {int(ev.found.sum())} of {ev.n} found</h3>"
            "<p class='note'>An event is a run of labelled rows in one channel; it is found "
            "when an alarm (after post-processing) covers one of its rows. Delay: from its "
            "first row to its first alarmed row. Click a channel to see it.</p>"
        )
        parts.append(_event_rows(ev, data.time_axis, names, events=True))
        parts.append(f"<h3>False alarms: {fa.n}</h3><p class='note'>Alarms that overlap no "
                     "labelled event.</p>")
        parts.append(_event_rows(fa, data.time_axis, names, events=False))
    elif data.time_axis == "row":
        parts.append("<p class='note'>No timestamps: rows are independent, so there is no "
                     "event table; the confusion matrix counts rows.</p>")
    return "\n".join(parts)


def _drift_section(drift: Mapping[str, Any] | None) -> str:
    if not drift:
        return "<h2>Drift</h2><p class='note'>No training profile to compare with.</p>"
    rows, classes = [], []
    for f in drift["features"]:
        rows.append([
            ("&#9888; " if f["drifted"] else "") + _e(f["name"]), _num(f["psi"]),
            _num(f["ks_statistic"]), _num(f["ks_pvalue"]), _num(f["train_missing_share"]),
            _num(f["new_missing_share"]), _num(f["train_mean"]), _num(f["new_mean"]),
            _e("; ".join(f["reasons"])) or "no",
        ])
        classes.append("drifted" if f["drifted"] else "")
    drifted = drift.get("drifted", [])
    head = f"<h2 id='drift-section'>Drift: {len(drifted)} of {len(rows)} features drifted</h2>"
    note = (
        f"<p class='note'>The scored rows ({drift['rows']}; KS on a sample of "
        f"{drift['sample_rows']}) against the training profile. Drifted: PSI &ge; "
        f"{drift['thresholds']['psi_threshold']}, or KS p &lt; {drift['thresholds']['ks_alpha']}"
        f" with a statistic &ge; {drift['thresholds']['ks_min_statistic']}, or more missing "
        "values.</p>"
    )
    cols = ["feature", "PSI", "KS", "KS p", "missing (train)", "missing (scored)",
            "mean (train)", "mean (scored)", "drift"]
    return head + note + _table(cols, rows, "drift", classes)


def _manifest_section(manifest: Mapping[str, Any]) -> str:
    parts = ["<h2>Bundle</h2>"]
    facts = [
        ("created", manifest.get("created")),
        ("astraguard-train", manifest.get("astraguard_train_version")),
        ("python", manifest.get("python")),
        ("persister", manifest.get("persister")),
        ("group by", manifest.get("group_by")),
        ("groups", n_groups(manifest)),
        ("threshold", manifest.get("threshold")),
        ("threshold method", (manifest.get("threshold_info") or {}).get("method")),
    ]
    fp = manifest.get("training_data")
    if isinstance(fp, Mapping):
        facts += [(f"training data {k}", v) for k, v in fp.items()]
    elif fp is not None:
        facts.append(("training data", fp))
    parts.append(_table(["", ""], [[_e(k), _num(v)] for k, v in facts], "facts"))
    plugins = manifest.get("plugins", {})
    parts.append("<h3>Plugins</h3>")
    parts.append(_table(
        ["stage", "kind", "name", "plugin", "distribution", "version"],
        [[_e(k), _e(p.get("kind")), _e(p.get("name")), _e(p.get("plugin")),
          _e(p.get("distribution") or "–"), _e(p.get("version") or "–")]
         for k, p in plugins.items()],
    ))
    libs = manifest.get("libraries", {})
    parts.append("<h3>Libraries</h3>")
    parts.append(_table(["library", "version"], [[_e(k), _e(v)] for k, v in libs.items()]))
    parts.append("<h3>Config</h3>")
    config = json.dumps(jsonable(manifest.get("config", {})), indent=2, default=str)
    parts.append(f"<pre>{_e(config)}</pre>")
    return "\n".join(parts)


def _leaderboard_section(data: ReportData) -> str:
    board = data.leaderboard
    if board is None:
        return ""
    keys = board.test_keys()
    head = ["rank", "candidate", f"validation {board.metric}"] + [f"test {k}" for k in keys]
    rows, classes = [], []
    for rank, c in enumerate(board.candidates, 1):
        test = c.test or {}
        row = [str(rank), _e(c.label), _num(c.validation)]
        row += [_num(test.get(k)) for k in keys]
        if c.error:
            row[1] += f"<br><span class='note'>failed: {_e(c.error)}</span>"
        rows.append(row)
        classes.append("winner" if rank == 1 else "")
    return (
        f"<h2>Leaderboard ({_e(board.kind)})</h2><p class='note'>{_e(board.note)}</p>"
        + _table(head, rows, "leaderboard", classes)
    )


def _map_section(data: ReportData) -> str:
    head = '<h2 id="map-section">Map of the data</h2>'
    m = data.data_map
    if m is None:
        return head + (
            "<p class='note'>Absent: this bundle keeps no map of the data. A bundle written "
            "before bundles kept one has none, nor does a version made by "
            "<code>astraguard-train update</code>, nor one whose channels' detectors see "
            "different features (feature selection per channel). To get it, train the bundle "
            "again with this version (<code>astraguard-train run CONFIG</code>) and run "
            "<code>astraguard-train report</code> on the new version.</p>"
        )
    n_t, n_s = m.train_pca.shape[0], m.scored_pca.shape[0]
    left = ""
    if any(m.left_out):
        left = (f" Left out of the draw (dropped by a transform's warm-up, a feature not "
                f"finite, or no detector for their group): {m.left_out[0]} training and "
                f"{m.left_out[1]} scored rows.")
    return head + (
        f"<p class='note'>{n_t} training rows (grey) and {n_s} scored rows (coloured by score) "
        f"in the {m.n_features} features the detector sees (after its transforms and scaler), "
        "drawn with a fixed seed, labelled anomalies and alarms first. PCA: the two axes of "
        "the training sample's largest variance. t-SNE, fitted when this report was written "
        f"on {m.train_tsne.shape[0]} training and {m.scored_tsne.shape[0]} scored rows of "
        "these, drawn the same way: neighbours stay neighbours, distances between clusters "
        "mean little. Both are views: no detector sees them. Labelled "
        f"anomalies are ringed, alarms crossed; hover a point for its time, channel and score."
        f"{left}</p>"
        '<div class="row"><div class="chart map" id="map-pca"></div>'
        '<div class="chart map" id="map-tsne"></div></div>'
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _timeline_section(data: ReportData) -> str:
    if not data.timelines:
        return ""
    picker = ""
    if len(data.timelines) > 1:
        options = "".join(
            f'<option value="{i}">{_e(t.name)} ({_count(t.events.shape[0], "event")}, '
            f'{_count(t.alarms.shape[0], "alarm")})</option>'
            for i, t in enumerate(data.timelines)
        )
        picker = (
            f'<label>channel <select id="channel-picker">{options}</select></label> '
            f"<span class='note'>{len(data.timelines)} channels</span>"
        )
    return (
        '<h2 id="timeline-section">Score over time</h2>'
        "<p class='note'>Score (blue), threshold as applied (dashed), alarms after "
        "post-processing (red band at the top), labelled events (shaded). Drag to zoom, "
        "double-click to reset.</p>"
        f"{picker}<div class='chart wide' id='timeline'></div>"
    )


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.note{color:#666;font-size:.9em}.metrics{display:flex;flex-wrap:wrap;gap:.5em}
.metric{border:1px solid #ddd;border-radius:4px;padding:.3em .6em;min-width:7em}
.metric span{display:block;font-size:.75em;color:#666}.metric b{font-size:1.1em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}th{background:#f4f4f4}
tr.missed td,tr.drifted td{background:#fdecea}tr.winner td{background:#eaf6ea}
.row{display:flex;flex-wrap:wrap;gap:1em}.chart.small{width:370px;height:340px}
.chart.wide{width:100%;height:430px}.chart.map{width:580px;height:500px}
pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:.8em;max-height:30em}
select{font-size:1em}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var config = {responsive: true, displaylogo: false};
  function bytes(b) {
    var s = atob(b), u = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
    return u.buffer;
  }
  function f64(b) { return Array.from(new Float64Array(bytes(b))); }
  function f32(b) { return Array.from(new Float32Array(bytes(b))); }
  // A date axis is given dates as text: plotly reads numbers near zero there as years.
  function at(v) {
    return data.axis === "date" ? new Date(v).toISOString().replace("T", " ").replace("Z", "")
                                : v;
  }
  function spans(list, y0, y1, color, opacity, layer) {
    return list.map(function (s) {
      return {type: "rect", xref: "x", yref: "paper", x0: at(s[0]), x1: at(s[1]), y0: y0, y1: y1,
              fillcolor: color, opacity: opacity, line: {width: 0}, layer: layer};
    });
  }
  function legend(name, color) {
    return {x: [null], y: [null], mode: "markers", name: name, showlegend: true,
            marker: {color: color, symbol: "square", size: 12}};
  }
  var plot = document.getElementById("timeline");
  function drawTimeline(i, range) {
    var t = data.timelines[i];
    var x = f64(t.x).map(at);
    var traces = [
      {x: x, y: f32(t.s), mode: "lines", name: "score", line: {color: "#1f77b4", width: 1}},
      {x: x, y: f32(t.t), mode: "lines", name: "threshold",
       line: {color: "#333", width: 1.5, dash: "dash", shape: "hv"}},
      legend("alarm", "#d62728"), legend("labelled event", "#ff7f0e")
    ];
    var layout = {
      title: {text: t.name + " (" + t.n + " rows)"},
      margin: {l: 60, r: 20, t: 40, b: 40}, hovermode: "x",
      xaxis: {type: data.axis === "date" ? "date" : "linear",
              title: {text: data.axis === "date" ? "time" : "row"}},
      yaxis: {title: {text: "score"}, fixedrange: false},
      shapes: spans(t.events, 0, 1, "#ff7f0e", 0.25, "below")
        .concat(spans(t.alarms, 0.93, 1, "#d62728", 0.85, "above")),
      legend: {orientation: "h", y: -0.15}
    };
    if (range) layout.xaxis.range = range.map(at);
    plot.dataset.timeline = String(i);
    plot.dataset.channel = t.name;
    return Plotly.react(plot, traces, layout, config);
  }
  if (plot && data.timelines.length) {
    drawTimeline(0);
    var picker = document.getElementById("channel-picker");
    if (picker) picker.addEventListener("change", function () {
      drawTimeline(Number(picker.value));
    });
    document.querySelectorAll("a.jump").forEach(function (a) {
      a.addEventListener("click", function () {
        var i = Number(a.dataset.timeline), x0 = Number(a.dataset.x0),
            x1 = Number(a.dataset.x1), pad = Math.max((x1 - x0) * 2, 1);
        if (picker) picker.value = String(i);
        drawTimeline(i, [x0 - pad, x1 + pad]);
      });
    });
  }
  function curve(id, c, xt, yt, name) {
    var el = document.getElementById(id);
    if (!el || !c) return;
    Plotly.newPlot(el, [{x: f32(c.x), y: f32(c.y), mode: "lines", name: name}], {
      title: {text: name + " (area " + c.auc.toFixed(3) + ")"},
      margin: {l: 50, r: 10, t: 40, b: 45}, showlegend: false,
      xaxis: {title: {text: xt}, range: [0, 1]}, yaxis: {title: {text: yt}, range: [0, 1.02]}
    }, config);
  }
  curve("roc", data.roc, "false positive rate", "true positive rate", "ROC");
  curve("pr", data.pr, "recall", "precision", "precision-recall");
  var cm = document.getElementById("confusion");
  if (cm && data.confusion) {
    var c = data.confusion;
    Plotly.newPlot(cm, [{
      // colour by the count's logarithm, so the largest cell does not wash out the others
      type: "heatmap", z: [[c.tn, c.fp], [c.fn, c.tp]].map(function (r) {
        return r.map(function (v) { return Math.log10(1 + v); });
      }), colorscale: "Blues", showscale: false,
      x: ["flagged: no", "flagged: yes"], y: ["label: normal", "label: anomaly"],
      text: [[String(c.tn), String(c.fp)], [String(c.fn), String(c.tp)]],
      texttemplate: "%{text}", hoverinfo: "skip"
    }], {title: {text: "confusion at the threshold"}, margin: {l: 100, r: 10, t: 40, b: 45}},
    config);
  }
  function u8(b) { return Array.from(new Uint8Array(bytes(b))); }
  function i32(b) { return Array.from(new Int32Array(bytes(b))); }
  var map = data.map;
  function when(v) {
    return data.axis === "date" ? new Date(v).toISOString().replace("T", " ").replace("Z", "")
                                : "row " + v;
  }
  function hover(side, what) {
    var x = f64(side.x), ch = side.ch ? i32(side.ch) : null;
    return x.map(function (v, i) {
      return what(i) + "<br>" + when(v) + (ch ? "<br>channel " + map.channels[ch[i]] : "");
    });
  }
  function drawMap(id, key, title, axes) {
    var el = document.getElementById(id);
    if (!el || !map) return;
    var tr = f32(map.train[key]), sc = f32(map.scored[key]);
    function xs(v) { return v.filter(function (_, i) { return i % 2 === 0; }); }
    function ys(v) { return v.filter(function (_, i) { return i % 2 === 1; }); }
    var s = f32(map.scored.s), t = f32(map.scored.t), flag = u8(map.scored.flag),
        label = map.scored.label ? u8(map.scored.label) : null;
    var text = hover(map.scored, function (i) {
      return "scored: score " + s[i].toPrecision(4) + " (threshold " + t[i].toPrecision(4) + ")" +
        (flag[i] ? ", alarm" : "") + (label && label[i] ? ", labelled anomaly" : "");
    });
    var trainText = hover(map.train, function () { return "training"; });
    // t-SNE holds only some of the points: keep what the hover and marks show of those
    if (key === "tsne") {
      var atT = i32(map.train.tsne_at), atS = i32(map.scored.tsne_at);
      var pick = function (v, at) { return at.map(function (i) { return v[i]; }); };
      trainText = pick(trainText, atT);
      s = pick(s, atS); flag = pick(flag, atS); text = pick(text, atS);
      if (label) label = pick(label, atS);
    }
    function marked(mask, name, symbol, color, size) {
      var pick = [];
      mask.forEach(function (v, i) { if (v) pick.push(i); });
      return {x: pick.map(function (i) { return sc[2 * i]; }),
              y: pick.map(function (i) { return sc[2 * i + 1]; }),
              text: pick.map(function (i) { return text[i]; }), hoverinfo: "text",
              mode: "markers", type: "scatter", name: name,
              marker: {symbol: symbol, color: color, size: size, opacity: 0.8,
                       line: {color: color, width: 1}}};
    }
    var traces = [
      {x: xs(tr), y: ys(tr), mode: "markers", type: "scatter", name: "training",
       text: trainText, hoverinfo: "text",
       marker: {color: "#aaa", size: 4, opacity: 0.7}},
      {x: xs(sc), y: ys(sc), mode: "markers", type: "scatter", name: "scored",
       text: text, hoverinfo: "text",
       marker: {color: s, colorscale: "Viridis", cmin: map.cmin, cmax: map.cmax, size: 4,
                opacity: 0.8,
                colorbar: {title: {text: "score"}, thickness: 12}}}
    ];
    if (label) traces.push(marked(label, "labelled anomaly", "circle-open", "#ff7f0e", 6));
    traces.push(marked(flag, "alarm", "x-thin-open", "#d62728", 5));
    Plotly.newPlot(el, traces, {
      title: {text: title}, margin: {l: 60, r: 10, t: 40, b: 45}, hovermode: "closest",
      xaxis: {title: {text: axes[0]}, zeroline: false},
      yaxis: {title: {text: axes[1]}, zeroline: false},
      legend: {orientation: "h", y: -0.15}
    }, config);
  }
  if (map) {
    var pct = map.explained.map(function (v) { return (100 * v).toFixed(1) + "%"; });
    drawMap("map-pca", "pca", "PCA",
            ["PC1 (" + pct[0] + " of variance)", "PC2 (" + pct[1] + " of variance)"]);
    drawMap("map-tsne", "tsne", "t-SNE", ["t-SNE 1", "t-SNE 2"]);
  }
})();
"""


def render(data: ReportData) -> str:
    """The report as one HTML document (plotly's script embedded once)."""
    names = {t.name: i for i, t in enumerate(data.timelines)}
    payload = json.dumps(_payload(data), separators=(",", ":")).replace("</", "<\\/")
    notes = "".join(f"<p class='note'>{_e(n)}</p>" for n in data.notes)
    body = "\n".join([
        f"<h1>{_e(data.title)}</h1>",
        f"<p class='note'>{_e(data.source)}; {data.n_rows} scored rows</p>{notes}",
        _metrics_section(data),
        _leaderboard_section(data),
        _timeline_section(data),
        _evaluation_section(data, names) if data.timelines else "",
        _drift_section(data.drift) if data.timelines else "",
        _map_section(data) if data.timelines else "",
        _manifest_section(data.manifest) if data.manifest else "",
    ])
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(data.title)}</title><style>{STYLE}</style>"
        f"<script>{plotly_js()}</script></head><body>\n{body}\n"
        f'<script type="application/json" id="report-data">{payload}</script>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def write_html(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` to ``path`` atomically; return the path.

    :raises OutputError: naming the path when it cannot be written (no partial file is left).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(f"{target}: cannot write the report: {exc.strerror or exc}") from None
    return target
