"""Reproduce PyOD's published ODDS benchmark through the framework's own pipeline.

Protocol (PyOD's ``benchmark.py``, as in ``published_pyod_roc.csv``): for each of the nine ODDS
sets in ``../shared/data``, split the rows 60/40 at random (seeds 0..9), fit a z-score scaler
and the detector on the 60% without labels, with default parameters, and take the ROC-AUC of
the scores on the 40%; report the mean over the seeds. Every run goes through
:class:`~astraguard_train.training.pipeline.Pipeline` with the data passed in as a :class:`Frame`
(``[split] strategy = "random"``, ``test_size = 0.4``, ``[scaler] name = "zscore"``), so what
is measured is the product, not a hand-written loop.

Targets: ``iforest`` and ``ocsvm`` within 0.02 of the published mean (or above) on every set;
``lof`` within 0.03.

    python benchmarks/bench_odds.py                          # 9 sets x 3 models x 10 seeds
    python benchmarks/bench_odds.py --seeds 3 --datasets cardio,wbc --models iforest
    python benchmarks/bench_odds.py --data-dir /path/to/other/odds   # any odds_<name>.csv
"""

from __future__ import annotations

import argparse
import csv
import functools
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
DATASETS = (
    "arrhythmia", "cardio", "ionosphere", "pima", "satellite", "satimage-2", "shuttle",
    "thyroid", "wbc",
)
#: our model name -> the column of published_pyod_roc.csv, and its tolerance below it
MODELS: dict[str, tuple[str, float]] = {
    "iforest": ("IForest", 0.02),
    "ocsvm": ("OCSVM", 0.02),
    "lof": ("LOF", 0.03),
}


@functools.cache
def load_frame(path: str) -> Any:
    """Read an ODDS CSV (``f0..fN`` then ``label``) into a Frame."""
    from astraguard_train.data.frame import Frame

    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    label = header.index("label")
    features = [i for i in range(len(header)) if i != label]
    return Frame(
        X=data[:, features],
        columns=[header[i] for i in features],
        labels=data[:, label].astype(np.int8),
        source=path,
    )


@functools.cache
def _registry() -> Any:
    from astraguard_train.plugins import build_registry

    return build_registry()


def run_one(path: str, model: str, seed: int) -> float:
    """One split: the test ROC-AUC of ``model`` with default parameters through the pipeline."""
    from astraguard_train.config import PipelineConfig
    from astraguard_train.training.pipeline import Pipeline

    params: dict[str, Any] = {}
    if "random_state" in _registry().get("model", model).params:
        params["random_state"] = seed
    config = PipelineConfig.from_dict(
        {
            "split": {"strategy": "random", "test_size": 0.4, "seed": seed},
            "scaler": {"name": "zscore"},
            "model": {"name": model, **params},
            # ROC-AUC does not depend on the threshold; a fixed one spares scoring the training
            # rows (30k rows for shuttle's exact OCSVM)
            "threshold": {"name": "fixed", "value": 0.0},
            "evaluate": {"metrics": ["ranking"]},
            # duplicated rows and constant columns are normal in ODDS; the gates are not studied
            "validation": {"enabled": False},
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = Pipeline(config, _registry()).run(data=load_frame(path), persist=False)
    return float(result.metrics["roc_auc"])


def published(data_dir: Path) -> dict[str, dict[str, float]]:
    """``published_pyod_roc.csv`` as {dataset: {column: value}} (empty when absent)."""
    path = data_dir / "published_pyod_roc.csv"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as fh:
        return {
            row["Data"]: {k: float(v) for k, v in row.items() if k != "Data" and v}
            for row in csv.DictReader(fh)
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--n-jobs", type=int, default=2, help="parallel runs (joblib, loky)")
    args = parser.parse_args(argv)

    import joblib

    # workers import this file by name (functions of __main__ do not unpickle there)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_odds import run_one as job

    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    paths = {d: args.data_dir / f"odds_{d}.csv" for d in names}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        print(f"missing data file(s): {', '.join(missing)}", file=sys.stderr)
        return 2
    jobs = [(d, m, s) for d in names for m in models for s in range(args.seeds)]
    start = time.perf_counter()
    # largest sets first, so the pool is not left waiting on one big job at the end
    jobs.sort(key=lambda j: -paths[j[0]].stat().st_size)
    aucs = joblib.Parallel(n_jobs=args.n_jobs)(
        joblib.delayed(job)(str(paths[d]), m, s) for d, m, s in jobs
    )
    seconds = time.perf_counter() - start
    by: dict[tuple[str, str], list[float]] = {}
    for (d, m, _), auc in zip(jobs, aucs, strict=True):
        by.setdefault((d, m), []).append(auc)

    table = published(args.data_dir)
    print(f"ODDS, PyOD protocol: random 60/40, z-score on train, default parameters, "
          f"ROC-AUC on test, mean of {args.seeds} seed(s); {len(jobs)} runs in {seconds:.1f} s")
    head = ("dataset", "model", "ours", "std", "published", "diff")
    print("{:<12} {:<8} {:>7} {:>6} {:>9} {:>7}  status".format(*head))
    misses: dict[str, list[str]] = {m: [] for m in models}
    for d in names:
        for m in models:
            values = np.array(by[(d, m)])
            column, tol = MODELS.get(m, (m, 0.02))
            ref = table.get(d, {}).get(column)
            mean = float(values.mean())
            if ref is None:
                diff, status = "", "no published figure"
            else:
                diff = f"{mean - ref:+.4f}"
                ok = mean >= ref - tol
                status = "ok" if ok else f"MISS (tolerance {tol})"
                if not ok:
                    misses[m].append(d)
            ref_text = f"{ref:.4f}" if ref is not None else "-"
            std = values.std()
            print(f"{d:<12} {m:<8} {mean:>7.4f} {std:>6.4f} {ref_text:>9} {diff:>7}  {status}")
    for m in models:
        worst = [
            float(np.mean(by[(d, m)])) - table[d][MODELS[m][0]]
            for d in names
            if m in MODELS and MODELS[m][0] in table.get(d, {})
        ]
        low = f"worst diff {min(worst):+.4f}" if worst else "no published figures"
        verdict = "target met" if not misses[m] else f"target missed on {', '.join(misses[m])}"
        print(f"summary {m:<8} {low}; {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
