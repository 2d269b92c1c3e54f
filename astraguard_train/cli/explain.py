"""``astraguard-train explain``: why rows were flagged, from a saved bundle's explainer."""

from __future__ import annotations

import sys

import click
import numpy as np

from ..errors import ConfigError
from . import EXIT_OK, emit_json, subcommand
from .score import DATA_HELP, data_options, parse_options


def parse_rows(text: str) -> np.ndarray:
    """``5,10-20,42`` as input row positions (from 0, as the output's ``row`` column).

    :raises ConfigError: naming the item that is not a number or a range ``A-B``.
    """
    out: list[int] = []
    for item in (p.strip() for p in text.split(",")):
        lo, sep, hi = item.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ConfigError(f"--rows: {item!r} is not a row number or a range such as "
                              f"10-20") from None
        if first < 0 or last < first:
            raise ConfigError(f"--rows: {item!r}: rows count from 0 and a range runs upwards")
        out += range(first, last + 1)
    return np.unique(np.asarray(out, dtype=np.int64))


@subcommand(
    "explain",
    "Explain rows of a data file with a saved bundle: the features that drove each score."
    f"\n\n{DATA_HELP} Without --rows, the flagged rows are explained.",
    "astraguard-train explain models/detector new.csv --rows 120-130 --top 5\n"
    "astraguard-train explain models/detector new.csv --output alarms.csv",
)
@data_options
@click.option("--rows", "rows_text", metavar="LIST", default=None,
              help="Rows to explain: positions from 0 as in score's 'row' column, e.g. "
              "5,10-20 (default: the flagged rows).")
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True,
              help="Features named per row.")
@click.option("--output", metavar="FILE",
              help="Write the explained rows to FILE (.csv, .jsonl or .parquet) instead of "
              "printing them.")
def command(bundle: str, data: str, chunk_rows: int | None, loader_options: tuple[str, ...],
            as_json: bool, key: str | None, trusted: bool, rows_text: str | None, top: int,
            output: str | None) -> int:
    from ..bundle.score_writers import ScoreWriter, columns_of
    from ..bundle.scoring import load_bundle
    from ..progress import display, step

    loaded = load_bundle(bundle, key=key, trusted=trusted)
    loaded.explainers()  # a bundle without one says how to add one before reading the data
    rows = parse_rows(rows_text) if rows_text else None
    with display(transient=True), step(f"explaining {data}"):
        found = loaded.explained(data, rows, top, chunk_rows=chunk_rows,
                                 **parse_options(loader_options))
    if output:
        with ScoreWriter(output) as writer:
            writer.write(found)
    cols = columns_of(found)
    if as_json:
        emit_json({"bundle": str(loaded.path), "data": data, "rows": found.n_rows,
                   "explained": [dict(zip(cols, values, strict=True))
                                 for values in zip(*(c.tolist() for c in cols.values()),
                                                   strict=True)] if not output else output})
        return EXIT_OK
    print(f"bundle:    {loaded.path}", file=sys.stderr if not output else sys.stdout)
    if output:
        print(f"explained: {found.n_rows} rows -> {output}")
        return EXIT_OK
    for i in range(found.n_rows):
        state = "flagged" if found.flags[i] else "not flagged"
        head = (f"row {int(found.frame.index[i])}: score {found.scores[i]:.4g} "
                f"(threshold {found.thresholds[i]:.4g}, {state})")
        parts = []
        for j in range(1, top + 1):
            name = cols.get(f"explain_{j}_feature")
            if name is None or not name[i]:
                continue
            parts.append(f"{name[i]} {cols[f'explain_{j}_contribution'][i]:+.4g}")
        extra = [f"{k} {cols[k][i]:.4g}" for k in ("observed", "forecast") if k in cols]
        if "alarm_channels" in cols and cols["alarm_channels"][i]:
            extra.append(f"channels alarming: {cols['alarm_channels'][i]}")
        print(head + "\n  " + "; ".join(parts + extra))
    if not found.n_rows:
        print("no row flagged" if rows is None else "no rows")
    return EXIT_OK
