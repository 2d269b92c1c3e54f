"""``astraguard-train drift``: has new data drifted from a bundle's training data?"""

from __future__ import annotations

import argparse

from . import EXIT_FAILED, EXIT_OK, command, emit_json
from .score import add_data_args, parse_options


@command("drift", "compare a data file with a bundle's training profile (PSI and KS per feature)")
def _drift_args(p: argparse.ArgumentParser) -> None:
    add_data_args(p)
    p.add_argument("--psi-threshold", type=float, default=0.2,
                   help="PSI at or above which a feature drifted (default 0.2)")
    p.add_argument("--ks-alpha", type=float, default=0.01,
                   help="KS p-value below which the shift is significant (default 0.01)")
    p.add_argument("--ks-min-statistic", type=float, default=0.1,
                   help="smallest KS statistic that counts as drift (default 0.1)")


@_drift_args.handler
def cmd_drift(args: argparse.Namespace) -> int:
    """Exit 0 when no feature drifted, 1 when some did (so scripts can gate on it)."""
    from ..bundle.drift import DriftThresholds
    from ..bundle.scoring import load_bundle

    bundle = load_bundle(args.bundle, key=args.key, trusted=args.trusted)
    thresholds = DriftThresholds(
        psi_threshold=args.psi_threshold,
        ks_alpha=args.ks_alpha,
        ks_min_statistic=args.ks_min_statistic,
    )
    report = bundle.drift(
        args.data, chunk_rows=args.chunk_rows, thresholds=thresholds,
        **parse_options(args.loader_options),
    )
    if args.json:
        emit_json({"bundle": str(bundle.path), "data": args.data, **report.to_dict()})
        return EXIT_FAILED if report.drifted else EXIT_OK
    print(f"bundle: {bundle.path}")
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
