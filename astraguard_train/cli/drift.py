"""``astraguard-train drift``: has new data drifted from a bundle's training data?"""

from __future__ import annotations

import click

from . import EXIT_FAILED, EXIT_OK, emit_json, subcommand
from .score import DATA_HELP, data_options, note_selection, parse_options


@subcommand(
    "drift",
    "Compare a data file with a bundle's training profile (PSI and KS per feature).\n\n"
    f"{DATA_HELP} Exits 0 when no feature drifted, 1 when some did.",
    "astraguard-train drift models/detector new.csv --psi-threshold 0.25",
)
@data_options
@click.option("--psi-threshold", type=float, default=0.2, show_default=True,
              help="PSI at or above which a feature drifted.")
@click.option("--ks-alpha", type=float, default=0.01, show_default=True,
              help="KS p-value below which the shift is significant.")
@click.option("--ks-min-statistic", type=float, default=0.1, show_default=True,
              help="Smallest KS statistic that counts as drift.")
def command(bundle: str, data: str, chunk_rows: int | None, loader_options: tuple[str, ...],
            as_json: bool, key: str | None, trusted: bool, psi_threshold: float,
            ks_alpha: float, ks_min_statistic: float) -> int:
    from ..bundle.drift import DriftThresholds
    from ..bundle.scoring import load_bundle
    from ..progress import display, step

    loaded = load_bundle(bundle, key=key, trusted=trusted)
    note_selection(bundle, loaded)
    thresholds = DriftThresholds(
        psi_threshold=psi_threshold,
        ks_alpha=ks_alpha,
        ks_min_statistic=ks_min_statistic,
    )
    with display(transient=True), step(f"reading {data}"):
        report = loaded.drift(
            data, chunk_rows=chunk_rows, thresholds=thresholds, **parse_options(loader_options),
        )
    if as_json:
        emit_json({"bundle": str(loaded.path), "data": data, **report.to_dict()})
        return EXIT_FAILED if report.drifted else EXIT_OK
    print(f"bundle: {loaded.path}")
    print(f"rows:   {report.rows} (KS on a sample of {report.sample_rows})")
    print(f"{'feature':<24} {'psi':>8} {'ks':>7} {'ks p':>9} {'missing':>8}  drift")
    for f in report.features:
        psi = f"{f.psi:.3f}" if f.psi is not None else "-"
        ks = f"{f.ks_statistic:.3f}" if f.ks_statistic is not None else "-"
        p = f"{f.ks_pvalue:.2g}" if f.ks_pvalue is not None else "-"
        why = "; ".join(f.reasons) if f.reasons else "no"
        print(f"{f.name:<24} {psi:>8} {ks:>7} {p:>9} {f.new_missing_share:>8.3f}  {why}")
    drifted = report.drifted
    print(f"drifted: {', '.join(drifted) if drifted else 'none'}")
    return EXIT_FAILED if drifted else EXIT_OK
