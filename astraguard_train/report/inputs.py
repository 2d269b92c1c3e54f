"""Where a report's rows come from: a finished run, a bundle's kept test part, or new data
scored with a bundle through the ordinary scoring path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..bundle.data_map import DataMap, load_data_map
from ..bundle.evaluation import Evaluation, drift_of_scored, load_evaluation
from ..bundle.store import (
    build_manifest,
    load_sample,
    resolve,
    verification_key,
    verify,
)
from ..errors import BundleError, NoExplainerError
from .data import ReportData, assemble
from .leaderboard import Leaderboard


def from_bundle(
    bundle: str | Path,
    data: Any = None,
    *,
    key: Any = None,
    trusted: bool = False,
    registry: Any = None,
    loader_params: Mapping[str, Any] | None = None,
    leaderboard: Leaderboard | None = None,
) -> ReportData:
    """The report of a bundle: of its kept test part, or of ``data`` scored with it.

    Without ``data`` nothing is unpickled, so neither ``key`` nor ``trusted`` is needed
    (a key, when given, is still checked). With ``data`` (a path, frame, array or records),
    the bundle is loaded as :func:`~astraguard_train.load_bundle` loads it and scores the data;
    the metrics are the bundle's metric plugins on those rows (label-based ones only when the
    data has labels).

    :raises BundleError: without ``data``, when the bundle keeps no scored test part.
    """
    if data is None:
        path = resolve(bundle)
        manifest = verify(path, verification_key(key))
        evaluation = load_evaluation(path, manifest)
        if evaluation is None:
            raise BundleError(
                f"{path}: keeps no scored test part (written by an older astraguard-train, "
                "or its test part was empty); pass a DATA file to score for the report"
            )
        return assemble(
            manifest, evaluation, source=f"bundle {path}: its test part, as the run scored it",
            leaderboard=leaderboard,
            data_map=load_data_map(path, manifest, evaluation.n_rows),
        )
    from ..bundle.scoring import load_bundle
    from ..training.evaluation import evaluate

    loaded = load_bundle(bundle, registry, key=key, trusted=trusted)
    try:  # the alarms explained beside each one, when the bundle has an explainer
        explain = loaded.explaining(3)
    except NoExplainerError:
        explain = None
    scored = loaded.score(data, explain=explain, **dict(loader_params or {}))
    manifest = loaded.manifest
    drift = drift_of_scored(manifest["profile"], load_sample(loaded.path, manifest), scored)
    names = manifest["config"].get("evaluate", {}).get("metrics")
    metrics = evaluate(scored, loaded.registry, names)
    where = data if isinstance(data, str | Path) else type(data).__name__
    kept = load_data_map(loaded.path, manifest)
    return assemble(
        manifest, Evaluation.from_scored(scored, drift), metrics=metrics,
        source=f"bundle {loaded.path}, scoring {where}", leaderboard=leaderboard,
        data_map=None if kept is None else kept.with_scored(loaded.detector, scored),
    )


def from_run(ctx: Any, leaderboard: Leaderboard | None = None) -> ReportData:
    """The report of a finished run (its pipeline context), read from its bundle when it
    wrote one, else built from the run in memory; nothing is scored again."""
    if leaderboard is not None:
        leaderboard = leaderboard.with_winner_test(ctx.metrics)
    if ctx.artifact:
        return from_bundle(ctx.artifact, leaderboard=leaderboard)
    from ..bundle.profile import sample_rows
    from ..bundle.store import training_features, training_matrix

    manifest = build_manifest(ctx, "", {})
    test = ctx.test_scores
    evaluation = data_map = None
    if test is not None and test.n_rows:
        X = training_matrix(ctx)
        sample = sample_rows(X) if X is not None else None
        drift = drift_of_scored(manifest["profile"], sample, test)
        evaluation = Evaluation.from_scored(test, drift)
        data_map = DataMap.build(
            ctx.detector, ctx.split.train, test, features=training_features(ctx)
        ) if ctx.split is not None else None
    return assemble(
        manifest, evaluation, source="an unsaved run: its test part", leaderboard=leaderboard,
        data_map=data_map,
    )


def for_leaderboard(leaderboard: Leaderboard, source: str = "") -> ReportData:
    """A report of a sweep's leaderboard alone (``compare``, whose runs keep no bundle)."""
    return assemble({}, None, source=source, title=f"{leaderboard.kind} leaderboard",
                    leaderboard=leaderboard)
