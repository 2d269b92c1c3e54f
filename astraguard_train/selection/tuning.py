"""Choosing the detector: running candidates, scoring them on validation rows, the leaderboard.

:func:`tune` is the ``tune`` command as a library call:

1. load and split the data once, as the base config says (:func:`splits.split_frame`);
2. build the validation folds from the training part only (:func:`search.validation_folds`);
3. fit every candidate on each fold's training rows and score the fold's validation rows,
   through joblib (``loky``, ``threading``, ``dask`` or ``dask-local``);
4. rank the candidates by the search metric (or, without labels, by agreement with the
   candidates' consensus; see :func:`consensus_agreement`);
5. only then run the winner through the ordinary pipeline: it is fitted on the training part
   and scores the test part once, and its bundle is written.

:func:`compare` runs several detectors through the same data, split and features and ranks
them by a test-part metric; it is a report, not a selection.
"""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import tomli_w

from ..config import PipelineConfig, StageSpec
from ..data.frame import Frame
from ..data.splits import Split
from ..errors import AstraGuardError, ConfigError, DataError, StageError
from ..parallel import iter_parallel
from ..plugins import contracts
from ..plugins.registry import Registry
from ..training import fit as training
from ..training.detector import Scored
from ..training.evaluation import evaluate
from ..training.pipeline import Pipeline, new_run_id
from ..training.result import RunResult
from .search import (
    FEW_ANOMALIES,
    Candidate,
    Fold,
    SearchConfig,
    build_candidate,
    fewest_anomalies,
    generate_candidates,
    repeated_folds,
)
from .search import validation_folds as make_folds

#: Metrics whose value depends on the threshold: candidates' thresholds are then chosen with
#: the fold's validation rows available (as ``best_f1`` needs).
THRESHOLD_METRICS = ("f1", "event_f1")

Progress = Callable[[int, int], None]


# -- one candidate on one fold ----------------------------------------------------------------


def _empty_like(frame: Frame) -> Frame:
    return frame.take(np.zeros(0, dtype=np.int64))


def _lean(scored: Scored) -> Scored:
    # Metrics need labels, timestamps and channels, not the features: send less back.
    frame = scored.frame
    return attrs.evolve(
        scored, frame=frame.with_features(np.zeros((frame.n_rows, 0)), ())
    )


def fit_and_score(
    config: PipelineConfig, registry: Any, fold: Fold, threshold_rows: bool
) -> Scored | str:
    """Fit ``config``'s chain(s) on ``fold.train`` and score ``fold.validation``.

    :param threshold_rows: give the threshold strategy the validation rows (for metrics that
        depend on the threshold); otherwise it sees training scores only.
    :returns: the scored validation rows (features left out), or the error message when the
        candidate could not be fitted or scored, or gave NaN scores (a failed candidate
        ranks last; the search goes on).
    """
    try:
        validation = fold.validation if threshold_rows else _empty_like(fold.validation)
        split = Split(fold.train, validation, _empty_like(fold.train), "search")
        plan = training.plan_training(config, registry, split)
        detector = training.fit_detector(config, registry, plan, split)
        scored = detector.score_frame(fold.validation)
    except (AstraGuardError, ValueError, ArithmeticError, LookupError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return _lean(scored)


# -- scoring ----------------------------------------------------------------------------------


def metric_value(scored: Scored, metric: str, registry: Registry) -> float | None:
    """The value of ``metric`` (a key of the metric plugins' output) on ``scored``, or None when
    it is undefined (one class only).

    :raises ConfigError: when no registered metric plugin produces ``metric``.
    """
    metrics = evaluate(scored, registry)
    if metric not in metrics:
        raise ConfigError(
            f"search.metric: no registered metric plugin reports '{metric}' on these rows "
            f"(reported: {', '.join(sorted(metrics))})"
        )
    value = metrics[metric]
    return None if value is None or not np.isfinite(value) else float(value)


def _ranks01(scores: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    n = scores.shape[-1]
    return (rankdata(scores, axis=-1) - 1) / max(n - 1, 1)


def consensus_agreement(score_sets: Sequence[np.ndarray]) -> np.ndarray:
    """Each candidate's agreement with the consensus of the others, for selection without labels.

    Each candidate's scores on the same rows are turned into ranks in [0, 1]; the consensus for
    candidate ``i`` is the mean rank of all the *other* candidates (leaving ``i`` out, so no
    candidate votes for itself); agreement is the Pearson correlation of ``i``'s ranks with that
    consensus (a Spearman correlation). With a single candidate its agreement is 1.

    :returns: one agreement in [-1, 1] per candidate (0 for constant scores).
    """
    m = len(score_sets)
    if m == 1:
        return np.ones(1)
    R = _ranks01(np.vstack(score_sets))
    total = R.sum(axis=0)
    others = (total[None, :] - R) / (m - 1)
    Rc = R - R.mean(axis=1, keepdims=True)
    Oc = others - others.mean(axis=1, keepdims=True)
    denom = np.sqrt((Rc**2).sum(axis=1) * (Oc**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(denom > 0, (Rc * Oc).sum(axis=1) / denom, 0.0)
    return corr


def _both_classes(fold: Fold) -> bool:
    labels = fold.validation.binary_labels()
    return labels is not None and len(np.unique(labels)) == 2


def choose_mode(folds: Sequence[Fold], mode: str) -> tuple[str, list[Fold]]:
    """Decide how candidates are ranked, and on which folds.

    ``auto`` ranks by the metric when the rows have labels, else by consensus. Supervised
    ranking uses the folds whose validation rows hold both classes (the metric is undefined on
    the others).

    :returns: ``("supervised" | "unsupervised", folds to use)``.
    :raises DataError: when labels exist (or ``mode = "supervised"``) but no validation fold
        holds both normal and anomalous rows.
    """
    if mode == "unsupervised":
        return "unsupervised", list(folds)
    labelled = all(f.validation.labels is not None for f in folds)
    if not labelled:
        if mode == "supervised":
            raise DataError(
                "search.mode: 'supervised' needs labelled rows; use mode = 'unsupervised' "
                "(or 'auto') for unlabelled data"
            )
        return "unsupervised", list(folds)
    usable = [f for f in folds if _both_classes(f)]
    if not usable:
        raise DataError(
            f"search: none of the {len(folds)} validation fold(s) holds both normal and "
            "anomalous rows, so the metric cannot rank candidates; use fewer folds (search.cv), "
            "a larger search.validation_size, or mode = 'unsupervised'"
        )
    return "supervised", usable


# -- results ----------------------------------------------------------------------------------


@attrs.frozen
class LeaderboardEntry:
    """One leaderboard row: the search keys applied, the score (None if failed) and why."""

    number: int
    params: dict[str, Any]
    score: float | None
    fold_scores: tuple[float | None, ...] = ()
    error: str | None = None
    #: the base config as given (what ``run`` would train), scored beside the candidates
    default: bool = False
    #: mean fold-by-fold difference from the default and its standard error (corrected for
    #: overlapping folds), when selection guarded the default
    vs_default: tuple[float, float] | None = None

    @property
    def std(self) -> float | None:
        """The spread of the score over folds (sample standard deviation), None with one."""
        values = [v for v in self.fold_scores if v is not None]
        return float(np.std(values, ddof=1)) if len(values) > 1 else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"params": dict(self.params), "score": self.score}
        if self.std is not None:
            out["std"] = self.std
        if self.default:
            out["default"] = True
        if self.vs_default is not None:
            out["diff_vs_default"], out["se_vs_default"] = self.vs_default
        if self.error:
            out["error"] = self.error
        return out


@attrs.frozen(eq=False)
class TuneResult:
    """What :func:`tune` returns.

    :param leaderboard: every candidate, best first (ties keep the order they were tried).
    :param metric: what ``score`` is (``roc_auc``, ..., or ``consensus_agreement``).
    :param mode: ``supervised`` or ``unsupervised``.
    :param n_folds: the folds candidates were scored on; ``n_folds_skipped`` more were left
        out because their validation rows lacked one of the classes.
    :param best_config: the winner as a full config.
    :param run: the winner's pipeline run (test metrics, artifact).
    :param config_path: where the winner's TOML was written, if anywhere.
    """

    leaderboard: tuple[LeaderboardEntry, ...]
    metric: str
    mode: str
    n_folds: int
    best_config: PipelineConfig
    run: RunResult | None
    config_path: str | None = None
    n_folds_skipped: int = 0
    seconds: float = 0.0
    search_seconds: float = 0.0
    #: the position in ``leaderboard`` of the chosen candidate (not always the first: see
    #: ``selection``)
    selected: int = 0
    #: how the winner was chosen: ``rule`` and, when guarded, why the default was kept or not
    selection: dict[str, Any] = attrs.field(factory=dict)
    #: label-using models left out of the space, and why
    excluded: dict[str, str] = attrs.field(factory=dict)

    @property
    def best(self) -> LeaderboardEntry:
        """The chosen candidate."""
        return self.leaderboard[self.selected]

    def to_dict(self) -> dict[str, Any]:
        run = self.run
        return {
            "metric": self.metric,
            "mode": self.mode,
            "n_candidates": len(self.leaderboard),
            "n_folds": self.n_folds,
            "n_folds_skipped": self.n_folds_skipped,
            "leaderboard": [e.to_dict() for e in self.leaderboard],
            "best": self.best.to_dict(),
            "selection": dict(self.selection),
            "excluded": dict(self.excluded),
            "test_metrics": dict(run.metrics) if run else {},
            "artifact": run.artifact if run else None,
            "best_config": self.config_path,
            "timing": {
                "search_seconds": round(self.search_seconds, 3),
                "total_seconds": round(self.seconds, 3),
            },
        }


def _rank(entries: list[LeaderboardEntry]) -> tuple[LeaderboardEntry, ...]:
    # Failed candidates last; ties keep their order, so every backend gives the same board.
    return tuple(
        sorted(entries, key=lambda e: (e.score is None, -(e.score or 0.0), e.number))
    )


def _for_search(config: PipelineConfig, keep_threshold: bool) -> PipelineConfig:
    # Candidates already run in parallel: their own per-group training runs serially.
    changes: dict[str, Any] = {"train": attrs.evolve(config.train, n_jobs=1, backend="loky")}
    if not keep_threshold:
        # Ranking metrics and consensus ignore the threshold. A fixed one costs nothing (no
        # second scoring of the training rows) and cannot fail on a fold without anomalies.
        changes["threshold"] = StageSpec("fixed", {"value": 0.0})
    return config.evolve(**changes)


def score_candidates(
    candidates: Sequence[Candidate],
    folds: Sequence[Fold],
    registry: Registry,
    search: SearchConfig,
    *,
    backend: str = "loky",
    n_jobs: int = 1,
    scheduler: str | None = None,
    progress: Progress | None = None,
    on_entry: Callable[[LeaderboardEntry, str], None] | None = None,
) -> tuple[list[LeaderboardEntry], str, int]:
    """Fit and score every candidate on every fold.

    :param on_entry: called in this process with each candidate's entry and what its score
        is (the metric, or ``consensus_agreement``): as soon as its folds are scored when
        ranking by a metric, once all are scored when ranking by consensus.
    :returns: the entries (in candidate order), the mode used (``supervised`` or
        ``unsupervised``, see :func:`choose_mode`) and the number of folds used.
    :raises DataError: as :func:`choose_mode`.
    """
    mode, folds = choose_mode(folds, search.mode)
    threshold_rows = mode == "supervised" and search.metric in THRESHOLD_METRICS
    configs = [_for_search(c.config, threshold_rows) for c in candidates]
    in_process = backend == "threading" or n_jobs == 1
    # A worker process cannot receive the plugin manager, only the entries it needs.
    needed = {
        (kind, spec.name)
        for config in configs
        for _key, kind, spec in config.stages()
        if kind in ("transform", "scaler", "model", "threshold")
    }
    view: Any = registry if in_process else registry.subset(needed)
    jobs = [(cfg, view, fold, threshold_rows) for cfg in configs for fold in folds]
    k = len(folds)
    results: list[Scored | str] = []
    entries: list[LeaderboardEntry] = []
    for i, res in enumerate(
        iter_parallel(fit_and_score, jobs, n_jobs=n_jobs, backend=backend, scheduler=scheduler)
    ):
        results.append(res)
        if (i + 1) % k:
            continue
        j = (i + 1) // k - 1
        if mode == "supervised":
            runs = results[j * k : (j + 1) * k]
            entry = _supervised_entry(candidates[j], runs, search.metric, registry)
            entries.append(entry)
            if on_entry is not None:
                on_entry(entry, search.metric)
        if progress is not None:
            progress(j + 1, len(candidates))
    if mode == "unsupervised":
        per_candidate = [results[j * k : (j + 1) * k] for j in range(len(candidates))]
        entries = _unsupervised_entries(candidates, per_candidate, k)
        if on_entry is not None:
            for entry in entries:
                on_entry(entry, "consensus_agreement")
    return entries, mode, k


def _supervised_entry(
    cand: Candidate, runs: Sequence[Scored | str], metric: str, registry: Registry
) -> LeaderboardEntry:
    errors = [r for r in runs if isinstance(r, str)]
    if errors:
        return LeaderboardEntry(cand.number, cand.params, None, error=errors[0])
    values = tuple(metric_value(r, metric, registry) for r in runs)  # type: ignore[arg-type]
    defined = [v for v in values if v is not None]
    score = float(np.mean(defined)) if defined else None
    error = None if defined else "the metric is undefined on every fold"
    return LeaderboardEntry(cand.number, cand.params, score, values, error)


def _unsupervised_entries(
    candidates: Sequence[Candidate], per_candidate: Sequence[Sequence[Scored | str]], k: int
) -> list[LeaderboardEntry]:
    ok = [j for j, runs in enumerate(per_candidate) if not any(isinstance(r, str) for r in runs)]
    fold_values: dict[int, list[float]] = {j: [] for j in ok}
    for f in range(k):
        runs = [per_candidate[j][f] for j in ok]
        if not runs:
            break
        # Temporal transforms may drop warm-up rows: agree on the rows every candidate scored.
        common = runs[0].frame.index  # type: ignore[union-attr]
        for r in runs[1:]:
            common = np.intersect1d(common, r.frame.index)  # type: ignore[union-attr]
        score_sets = []
        for r in runs:
            index = r.frame.index  # type: ignore[union-attr]
            order = np.argsort(index, kind="stable")  # folds may hold rows in time order
            pos = order[np.searchsorted(index[order], common)]
            score_sets.append(r.scores[pos])  # type: ignore[union-attr]
        for j, value in zip(ok, consensus_agreement(score_sets), strict=True):
            fold_values[j].append(float(value))
    entries = []
    for j, cand in enumerate(candidates):
        if j in fold_values:
            values = tuple(fold_values[j])
            score = float(np.mean(values))
            entries.append(LeaderboardEntry(cand.number, cand.params, score, values))
        else:
            err = next(r for r in per_candidate[j] if isinstance(r, str))
            entries.append(LeaderboardEntry(cand.number, cand.params, None, error=err))
    return entries


def _load_and_split(
    config: PipelineConfig, registry: Registry, data: Any, sweep_id: str
) -> tuple[Frame, Split]:
    """Load, validate and split once, with the ordinary stages (under the sweep's id)."""
    pipe = Pipeline(config, registry)
    pipe.run_stages(data, run_id=sweep_id, stop_after="prepare")
    ctx = pipe.context
    assert ctx is not None and ctx.frame is not None and ctx.split is not None
    return ctx.frame, ctx.split


def tune(
    config: PipelineConfig,
    *,
    registry: Registry | None = None,
    data: Any = None,
    output: str | None = None,
    backend: str = "loky",
    n_jobs: int = 1,
    scheduler: str | None = None,
    progress: Progress | None = None,
    persist: bool = True,
    report: str | os.PathLike[str] | None = None,
) -> TuneResult:
    """Search ``config``'s ``[search]`` space and run the winner; see the module docstring.

    :param data: in-memory input for the loader (a :class:`Frame` or the loader's source).
    :param output: where the winner's bundle and TOML go (default ``[persist] output``).
    :param progress: called with (candidates done, candidates in all) as candidates finish.
    :param persist: False runs the winner without writing its bundle or TOML.
    :param report: where to write the HTML report: the leaderboard and the winner's run
        (``run.report_path`` names it).
    :returns: the leaderboard, the winner's config and its pipeline run.
    :raises ConfigError: for an invalid config or ``[search]`` table.
    :raises DataError: when the data cannot give the validation folds asked for.
    """
    from ..plugins.manager import build_registry

    start = time.perf_counter()
    registry = registry or build_registry()
    search = SearchConfig.from_config(config)
    config.check(registry)
    if report is not None:  # before the search, not after it
        from ..report import check_available

        check_available()
    candidates = generate_candidates(config, search, registry)
    hook = registry.hook
    sweep_id = new_run_id()
    hook.before_sweep(
        kind="tune", config=config, run_id=sweep_id, candidates=[c.params for c in candidates]
    )
    try:
        result = _tune(
            config, registry, search, candidates, data, sweep_id, start,
            output=output, backend=backend, n_jobs=n_jobs, scheduler=scheduler,
            progress=progress, persist=persist, report=report,
        )
    except Exception as exc:
        hook.on_sweep_error(kind="tune", error=exc, config=config, run_id=sweep_id)
        raise
    hook.after_sweep(kind="tune", result=result, run_id=sweep_id)
    return result


def _tune(
    config: PipelineConfig,
    registry: Registry,
    search: SearchConfig,
    candidates: list[Candidate],
    data: Any,
    sweep_id: str,
    start: float,
    *,
    output: str | None,
    backend: str,
    n_jobs: int,
    scheduler: str | None,
    progress: Progress | None,
    persist: bool,
    report: str | os.PathLike[str] | None,
) -> TuneResult:
    frame, split = _load_and_split(config, registry, data, sweep_id)
    folds = make_folds(split, search, config.split)
    candidates, excluded = _without_unusable(candidates, split, registry)
    guarded = _few_anomalies(folds, search)
    default = None
    announced = len(candidates)
    if guarded:
        if search.cv is None:  # one fold of few anomalies is noise: resample the training part
            folds = repeated_folds(split, search.seed)
        candidates, default = _with_default(config, candidates, registry, search.seed)
    hook = registry.hook

    def announce(entry: LeaderboardEntry, metric: str) -> None:
        if entry.number >= announced:  # the added default: not among before_sweep's candidates
            return
        hook.after_candidate(
            params=entry.params, metrics={metric: entry.score}, run_id=new_run_id(),
            parent_run_id=sweep_id, number=entry.number, error=entry.error,
        )

    entries, mode, n_folds = score_candidates(
        candidates, folds, registry, search,
        backend=backend, n_jobs=n_jobs, scheduler=scheduler, progress=progress,
        on_entry=announce,
    )
    board = _rank(entries)
    searched = [e for e in board if e.number < announced]  # not the added default
    if all(e.score is None for e in searched):
        raise DataError(f"search: every candidate failed; first error: {searched[0].error}")
    if default is not None and mode == "supervised":
        ratio = float(np.mean([f.validation.n_rows / f.train.n_rows for f in folds]))
        board, selected, selection = guard_default(board, default, ratio)
    else:
        selected, selection = 0, {"rule": "best_mean"}
    search_seconds = time.perf_counter() - start
    chosen = board[selected]
    winner = candidates[chosen.number].config
    metric = search.metric if mode == "supervised" else "consensus_agreement"
    leaderboard = None
    if report is not None:
        from ..report.leaderboard import Leaderboard

        leaderboard = Leaderboard.from_tune(board, metric, mode, winner=selected)
    # The test part is touched here for the first time, by the winner alone.
    pipe = Pipeline(winner, registry)
    run = pipe.run(
        frame, output=output, persist=persist, parent_run_id=sweep_id, report=report,
        leaderboard=leaderboard,
    )
    assert pipe.context is not None and pipe.context.split is not None
    if not np.array_equal(pipe.context.split.test.index, split.test.index):
        raise DataError("search: the winner's run split the data differently from the search")
    path = None
    if persist:
        path = write_winner(winner, chosen, search, mode, output or config.persist.output)
    return TuneResult(
        leaderboard=board,
        metric=metric,
        mode=mode,
        n_folds=n_folds,
        n_folds_skipped=len(folds) - n_folds,
        best_config=winner,
        run=run,
        config_path=path,
        seconds=time.perf_counter() - start,
        search_seconds=search_seconds,
        selected=selected,
        selection=selection,
        excluded=excluded,
    )


# -- selection that few labels cannot fool ------------------------------------------------------


def _few_anomalies(folds: Sequence[Fold], search: SearchConfig) -> bool:
    if search.mode == "unsupervised":
        return False
    fewest = fewest_anomalies(list(folds))
    return fewest is not None and fewest < FEW_ANOMALIES


def _without_unusable(
    candidates: list[Candidate], split: Split, registry: Registry
) -> tuple[list[Candidate], dict[str, str]]:
    """Drop candidates whose model learns from labels when the training part has no
    labelled anomaly (they would be their unsupervised fallback under another name)."""
    labels = split.train.labels
    if labels is not None and (labels == 1).any():
        return candidates, {}
    using = set(contracts.label_using_models(registry))
    dropped = sorted({c.config.model.name for c in candidates if c.config.model.name in using})
    if not dropped:
        return candidates, {}
    kept = [c for c in candidates if c.config.model.name not in using]
    if not kept:
        raise DataError(
            f"search: every candidate's model ({', '.join(dropped)}) learns from labels, and "
            "the training part has no labelled anomaly"
        )
    reason = "the training part has no labelled anomaly"
    renumbered = [attrs.evolve(c, number=i) for i, c in enumerate(kept)]
    return renumbered, dict.fromkeys(dropped, reason)


def _with_default(
    config: PipelineConfig, candidates: list[Candidate], registry: Registry, seed: int
) -> tuple[list[Candidate], int]:
    """The candidates with the base config among them; returns them and its number."""
    base = build_candidate(config, {}, registry, number=len(candidates), seed=seed)
    key = _resolved(base.config, registry)
    for c in candidates:
        if _resolved(c.config, registry) == key:
            return candidates, c.number
    return [*candidates, base], base.number


def _resolved(config: PipelineConfig, registry: Registry) -> str:
    """The config with every plugin's unset parameters at their defaults, so a candidate
    that spells a default out equals the base config that leaves it out."""
    data = config.to_dict()
    for key, kind, spec in config.stages():
        if isinstance(spec, StageSpec) and registry.has(kind, spec.name):
            defaults = dict(registry.get(kind, spec.name).params)
            data[key] = {"name": spec.name, **defaults, **spec.params}
    return repr(sorted(data.items()))


def guard_default(
    board: tuple[LeaderboardEntry, ...], default: int, ratio: float
) -> tuple[tuple[LeaderboardEntry, ...], int, dict[str, Any]]:
    """Keep the default unless a candidate beats it beyond the noise of the folds.

    For each candidate, the fold-by-fold differences from the default give a mean ``d`` and
    a standard error corrected for folds that share training rows (Nadeau and Bengio's
    ``sqrt((1/J + n_validation/n_train) * s^2)`` over ``J`` folds). A candidate *beats* the
    default when ``d`` exceeds that error times the one-sided 95% Student t quantile; the
    best-scoring such candidate is chosen, else the default.

    :param ratio: validation rows per training row of a fold.
    :returns: the leaderboard with each entry's ``vs_default`` and the default marked, the
        position of the chosen entry, and the selection record.
    """
    from scipy.stats import t as student

    base = next(e for e in board if e.number == default)
    out = []
    for e in board:
        vs = None
        if e.number != default and e.score is not None and base.score is not None:
            pairs = [
                (a, b)
                for a, b in zip(e.fold_scores, base.fold_scores, strict=True)
                if a is not None and b is not None
            ]
            d = np.array([a - b for a, b in pairs])
            if len(d) > 1:
                se = float(np.sqrt((1 / len(d) + ratio) * np.var(d, ddof=1)))
                vs = (float(d.mean()), se)
        out.append(attrs.evolve(e, default=e.number == default, vs_default=vs))
    folds = max(len(base.fold_scores), 2)
    critical = float(student.ppf(0.95, folds - 1))
    selected = next(i for i, e in enumerate(out) if e.number == default)
    for i, e in enumerate(out):
        if e.vs_default is not None:
            gain, error = e.vs_default
            if gain > critical * error and gain > 0:
                selected = i
                break
    chosen = out[selected]
    kept = chosen.number == default
    leader = out[0]
    if kept and leader.number != default:
        reason = (
            f"the best mean ({leader.params}) is {leader.vs_default[0]:+.4f} from the default, "
            f"within the noise (needs > {critical:.2f} x {leader.vs_default[1]:.4f})"
            if leader.vs_default is not None
            else "no candidate's fold scores could be compared with the default's"
        )
    elif kept:
        reason = "the default scored best"
    else:
        assert chosen.vs_default is not None
        reason = (
            f"beats the default by {chosen.vs_default[0]:+.4f} > {critical:.2f} x "
            f"{chosen.vs_default[1]:.4f} (standard error over {len(chosen.fold_scores)} folds)"
        )
    selection = {
        "rule": "beats_default",
        "default": dict(base.params),
        "kept_default": kept,
        "reason": reason,
        "critical_t": critical,
    }
    return tuple(out), selected, selection


def write_winner(
    winner: PipelineConfig, best: LeaderboardEntry, search: SearchConfig, mode: str, output: str
) -> str:
    """Write the winner as ``OUTPUT/<bundle_name>.best.toml``; return its path.

    The file is an ordinary pipeline config without the ``[search]`` table, so ``run`` on it
    repeats the winner.
    """
    data = winner.to_dict()
    data.pop("search", None)
    metric = search.metric if mode == "supervised" else "consensus agreement (no labels)"
    header = (
        f"Chosen by astraguard-train tune from {winner.source or 'the embedded pipeline'}\n"
        f"{metric} on validation rows: {best.score:.6f}\n"
        f"search keys: {best.params}"
    )
    path = Path(output) / f"{winner.persist.bundle_name}.best.toml"
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    try:
        body = tomli_w.dumps(_without_none(data))
    except TypeError as exc:  # a config built in Python may hold what TOML cannot
        raise ConfigError(f"{path}: cannot write the winner's config as TOML: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(f"{comments}\n{body}", encoding="utf-8")
    tmp.replace(path)
    return str(path)


def _without_none(value: Any) -> Any:
    # TOML has no null: a parameter set to None in Python is left out, so it takes its default.
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


# -- compare ----------------------------------------------------------------------------------


@attrs.frozen
class Comparison:
    """One detector's run in :func:`compare`."""

    model: str
    score: float | None
    metrics: dict[str, Any]
    seconds: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"model": self.model, "score": self.score, "metrics": self.metrics,
               "seconds": round(self.seconds, 3)}
        if self.error:
            out["error"] = self.error
        return out


def _run_model(
    config: PipelineConfig, registry: Registry | None, frame: Frame, metric: str
) -> tuple[Comparison, RunResult | None]:
    from ..models.ensemble import member_registry

    start = time.perf_counter()
    try:
        # In a worker process, one registry serves every run it is given. The run fires no
        # hooks wherever it runs: compare fires them in the parent process from its result.
        pipe = Pipeline(config, registry or member_registry(), hooks=False)
        result = pipe.run(frame, persist=False, raise_on_error=False)
    except AstraGuardError as exc:
        elapsed = time.perf_counter() - start
        return Comparison(config.model.name, None, {}, elapsed, str(exc)), None
    value = result.metrics.get(metric)
    error = None if result.ok else f"stage '{result.failed_stage}' failed: {result.error}"
    comparison = Comparison(
        config.model.name, value, dict(result.metrics), result.seconds, error
    )
    return comparison, result


def _fire_run_hooks(
    hook: Any, config: PipelineConfig, result: RunResult, run_id: str, parent_run_id: str
) -> None:
    """Fire a finished run's lifecycle hooks, in the order a live run fires them."""
    hook.before_run(config=config, run_id=run_id, parent_run_id=parent_run_id)
    error: StageError | None = None
    for stage in result.stages:
        hook.before_stage(stage=stage.name, config=config, run_id=run_id)
        if stage.name == result.failed_stage:
            error = StageError(stage.name, result.error or "")
            hook.on_pipeline_error(stage=stage.name, error=error, config=config, run_id=run_id)
        else:
            hook.after_stage(
                stage=stage.name, seconds=stage.seconds, summary=stage.summary,
                config=config, run_id=run_id,
            )
    if error is None:
        hook.after_run(result=result, config=config, run_id=run_id, parent_run_id=parent_run_id)
    else:
        hook.on_run_error(
            error=error, config=config, run_id=run_id, stage=result.failed_stage,
            result=result, parent_run_id=parent_run_id,
        )


def compare(
    config: PipelineConfig,
    models: Sequence[str],
    *,
    metric: str = "roc_auc",
    registry: Registry | None = None,
    data: Any = None,
    backend: str = "loky",
    n_jobs: int = 1,
    scheduler: str | None = None,
) -> list[Comparison]:
    """Run ``config`` once per model name (same data, split and features); rank by ``metric``
    on the test part, best first. This is a report: choosing by it would tune on the test part.

    A model whose run fails is listed last with its error. Each run's lifecycle hooks fire in
    this process as its result arrives, followed by ``after_candidate``.

    :raises ConfigError: for an unknown model name or an invalid config.
    """
    from ..plugins.manager import build_registry

    registry = registry or build_registry()
    if not models:
        raise ConfigError("--models: name at least one model")
    for name in models:
        if not registry.has("model", name):
            try:
                registry.get("model", name)
            except LookupError as exc:
                raise ConfigError(f"--models: {exc}") from None
    candidates = [build_candidate(config, {"model.name": name}, registry) for name in models]
    hook = registry.hook
    sweep_id = new_run_id()
    hook.before_sweep(
        kind="compare", config=config, run_id=sweep_id,
        candidates=[c.params for c in candidates],
    )
    try:
        frame, _ = _load_and_split(config, registry, data, sweep_id)
        # A registry cannot travel to worker processes; there each run builds its own.
        shared = registry if backend == "threading" or n_jobs == 1 else None
        results: list[Comparison] = []
        jobs = [(c.config, shared, frame, metric) for c in candidates]
        for number, (comparison, run) in enumerate(
            iter_parallel(
                _run_model, jobs, n_jobs=n_jobs, backend=backend, scheduler=scheduler,
                label="models",
            )
        ):
            run_id = new_run_id()
            cand = candidates[number]
            if run is not None:
                _fire_run_hooks(hook, cand.config, run, run_id, sweep_id)
            hook.after_candidate(
                params=cand.params, metrics=dict(comparison.metrics), run_id=run_id,
                parent_run_id=sweep_id, number=number, error=comparison.error,
            )
            results.append(comparison)
    except Exception as exc:
        hook.on_sweep_error(kind="compare", error=exc, config=config, run_id=sweep_id)
        raise
    keys = sorted({k for r in results for k in r.metrics})
    if keys and metric not in keys:  # metric plugins say which keys they give only by running
        close = difflib.get_close_matches(metric, keys, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"--metric: unknown metric {metric!r}{hint}; these runs give: {', '.join(keys)}"
        )
    order = sorted(
        range(len(results)),
        key=lambda i: (results[i].score is None, -(results[i].score or 0.0), i),
    )
    ranked = [results[i] for i in order]
    hook.after_sweep(kind="compare", result=ranked, run_id=sweep_id)
    return ranked
