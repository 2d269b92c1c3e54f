"""The seven-stage run: load, validate, prepare, features, train, evaluate, persist.

Each stage is a small function of the run context that stores its output on the context and
returns a JSON-friendly summary. :class:`Pipeline` runs them in order, times them, fires the
lifecycle hooks and collects a :class:`RunResult`.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

import attrs

from ..config import PipelineConfig
from ..data.frame import Frame
from ..data.splits import Split, split_frame
from ..errors import AstraGuardError, ConfigError, StageError, ValidationFailed
from ..explain.attach import fit_explainers
from ..parallel import release_started_workers, workers_up
from ..plugins.registry import Registry
from . import fit as training
from .detector import Scored, TrainedDetector
from .result import RunResult, StageResult

STAGES: tuple[str, ...] = (
    "load",
    "validate",
    "prepare",
    "features",
    "train",
    "evaluate",
    "persist",
)


@attrs.define(eq=False)
class RunContext:
    """What the stages share: the config, the registry and each stage's output."""

    config: PipelineConfig
    registry: Registry
    data: Any = None
    output: str | None = None
    frame: Frame | None = None
    quality: Any = None
    split: Split | None = None
    plan: training.TrainingPlan | None = None
    detector: TrainedDetector | None = None
    #: the fitted explainer per chain key (``[explain]``); written to the bundle beside it
    explainers: dict[Any, Any] = attrs.field(factory=dict)
    test_scores: Scored | None = None
    #: the persist stage will run: work for the bundle may start before it
    persisting: bool = False
    #: the train stage will run
    fitting_groups: bool = False
    #: the bundle's summaries of the training rows and of the scored test part, being made
    #: while train and evaluate run (:func:`~astraguard_train.bundle.store.summarise_ahead`)
    training_summary: Any = None
    test_summary: Any = None
    metrics: dict[str, Any] = attrs.field(factory=dict)
    #: waits for the workers started for per-group training as the run began
    #: (:func:`~astraguard_train.training.fit.start_group_workers`); None: none started
    workers_ready: Callable[[], None] | None = None
    artifact: str | None = None
    counts: dict[str, int] = attrs.field(factory=dict)
    warnings: list[str] = attrs.field(factory=list)

    def count(self, key: str, n: int) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + int(n)


# -- stages ---------------------------------------------------------------------------------


def stage_load(ctx: RunContext) -> dict[str, Any]:
    spec = ctx.config.loader
    if ctx.fitting_groups:  # their workers start importing while the data loads
        ctx.workers_ready = training.start_group_workers(ctx.config, ctx.registry)
    if isinstance(ctx.data, Frame):
        ctx.frame = ctx.data
    else:
        loader = ctx.registry.create("loader", spec.name, spec.params, where="loader")
        ctx.frame = loader.load(ctx.data) if ctx.data is not None else loader.load()
    return {
        "loader": spec.name if not isinstance(ctx.data, Frame) else "frame",
        **ctx.frame.summary(),
    }


def stage_validate(ctx: RunContext) -> dict[str, Any]:
    from ..data.quality import check_frame

    assert ctx.frame is not None
    if not ctx.config.validation.enabled:
        return {"skipped": True}
    report = check_frame(ctx.frame, ctx.config.validation)
    ctx.quality = report
    for check in report.warnings():
        ctx.warnings.append(f"validation: {check.summary_line()}")
    if not report.ok:
        raise ValidationFailed(report.failure_message(), report)
    return report.summary()


def stage_prepare(ctx: RunContext) -> dict[str, Any]:
    from ..data.leaks import leak_warnings
    from ..data.missing import apply_missing

    assert ctx.frame is not None
    ctx.warnings.extend(f"prepare: {m}" for m in leak_warnings(ctx.frame, ctx.config.split))
    frame, counts = apply_missing(ctx.frame, ctx.config.missing)
    for key, n in counts.items():
        ctx.count(key, n)
    ctx.split = split_frame(frame, ctx.config.split)
    return ctx.split.summary()


def stage_features(ctx: RunContext) -> dict[str, Any]:
    assert ctx.split is not None
    # Workers are started only for a train stage that will run (``fitting_groups``): none
    # for a run that stops after this stage.
    ctx.plan = training.plan_training(
        ctx.config, ctx.registry, ctx.split, ctx.workers_ready or workers_up
    )
    for key, n in ctx.plan.counts.items():
        ctx.count(key, n)
    return ctx.plan.summary()


def stage_train(ctx: RunContext) -> dict[str, Any]:
    assert ctx.plan is not None and ctx.split is not None
    if ctx.persisting:
        from ..bundle.store import summarise_ahead

        ctx.training_summary = summarise_ahead(ctx)
    before = dict(ctx.plan.counts)  # the features stage has counted these already
    ctx.detector = training.fit_detector(ctx.config, ctx.registry, ctx.plan, ctx.split)
    explain = ctx.config.explain
    ctx.explainers = fit_explainers(
        explain if explain.enabled else None, ctx.registry, ctx.detector.chains,
        ctx.plan.features,
    )
    for key, n in ctx.plan.counts.items():
        if key.startswith("train_"):
            ctx.count(key, n - before.get(key, 0))
    failed = ctx.detector.failed_groups
    for group, error in failed.items():
        ctx.warnings.append(
            f"train: {ctx.config.train.group_by} {group!r} left out of the bundle "
            f"(on_group_failure = \"skip\"): its fit failed: {error}"
        )
    return {
        "groups": len(ctx.detector.chains),
        "threshold": ctx.detector.threshold,
        "threshold_method": ctx.detector.threshold_info.get("method"),
        "features": list(ctx.detector.output_columns),
        "explainer": explain.name if ctx.explainers else None,
        "fit_seconds": round(ctx.plan.fit_seconds, 3),
        **({"failed_groups": dict(failed)} if failed else {}),
    }


def stage_evaluate(ctx: RunContext) -> dict[str, Any]:
    from .evaluation import evaluate

    assert ctx.detector is not None and ctx.split is not None
    test = _without_failed_groups(ctx, ctx.split.test)
    if test.n_rows == 0:
        ctx.warnings.append("evaluate: the test part is empty; no metrics computed")
        return {"skipped": True}
    ctx.test_scores = _score_test(ctx, test)
    if ctx.training_summary is not None:
        from ..bundle.store import summarise_test_ahead

        ctx.test_summary = summarise_test_ahead(ctx, ctx.training_summary)
    ctx.count("test_rows_not_scored", test.n_rows - ctx.test_scores.n_rows)
    for key, n in ctx.test_scores.counts.items():
        ctx.count(f"test_{key}", n)
    ctx.metrics = evaluate(ctx.test_scores, ctx.registry, ctx.config.evaluate.metrics)
    return dict(ctx.metrics)


def _score_test(ctx: RunContext, test: Frame) -> Scored:
    """The test part scored as ``score_frame`` scores it; with an explainer, its alarms
    explained too (top 3 features), for the report beside each alarm. Without one, per-group
    detectors trained in parallel score their groups in parallel on the training backend
    (the same results; ``dask-local`` on local processes rather than a second cluster)."""
    import numpy as np

    from ..explain.base import CONTRIBUTION_COLUMN
    from ..explain.request import Explaining
    from .group_scoring import score_by_group
    from .streaming import Scorer

    assert ctx.detector is not None and ctx.split is not None
    if ctx.explainers:
        explain = Explaining(ctx.explainers, top=EXPLAIN_TOP, limit=EXPLAIN_LIMIT)
        scored = explain.final(Scorer(ctx.detector, explain=explain).score_all(test))
        if scored.explanations is not None:
            first = scored.explanations[CONTRIBUTION_COLUMN.format(i=1)]
            # rows post-processing flagged without a crossing have nothing to explain
            crossed = np.asarray(scored.flags, dtype=bool) & (scored.scores > scored.thresholds)
            ctx.count("test_alarm_rows_not_explained", int((crossed & np.isnan(first)).sum()))
        return scored
    train = ctx.config.train
    if ctx.detector.group_by is None or (train.n_jobs == 1 and train.backend != "dask"):
        return ctx.detector.score_frame(test)
    backend = "loky" if train.backend == "dask-local" else train.backend
    return score_by_group(
        ctx.detector, test, n_jobs=train.n_jobs, backend=backend, scheduler=train.scheduler
    )


def _without_failed_groups(ctx: RunContext, test: Frame) -> Frame:
    """``test`` without the rows of groups left out of the detector (counted)."""
    assert ctx.detector is not None
    failed, group_by = ctx.detector.failed_groups, ctx.detector.group_by
    if not failed or group_by is None or test.n_rows == 0:
        return test
    import numpy as np

    keep = ~np.isin(np.asarray(test.key(group_by)).astype(str), list(failed))
    ctx.count("test_rows_of_failed_groups", int((~keep).sum()))
    return test.take(keep)


def stage_persist(ctx: RunContext) -> dict[str, Any]:
    from ..bundle.store import save_version

    assert ctx.detector is not None
    saved = save_version(ctx, output=ctx.output or ctx.config.persist.output)
    ctx.artifact = str(saved.path)
    if saved.duplicate_of is None:
        return {"artifact": ctx.artifact}
    ctx.warnings.append(
        f"persist: version {saved.duplicate_of} ({saved.path}) has the same config and "
        "training data; no copy written ([persist] allow_duplicate = true, or run "
        "--allow-duplicate, writes one)"
    )
    return {"artifact": ctx.artifact, "duplicate_of": saved.duplicate_of}


#: Features named per alarm of the test part (the report shows them beside each alarm).
EXPLAIN_TOP = 3
#: The most alarm rows per channel a run explains for its report, the strongest first: each
#: costs several rescorings, and a noisy test part can raise tens of thousands.
EXPLAIN_LIMIT = 1000

STAGE_FUNCTIONS: dict[str, Callable[[RunContext], dict[str, Any]]] = {
    "load": stage_load,
    "validate": stage_validate,
    "prepare": stage_prepare,
    "features": stage_features,
    "train": stage_train,
    "evaluate": stage_evaluate,
    "persist": stage_persist,
}


# -- the run --------------------------------------------------------------------------------


class Pipeline:
    """Runs a :class:`PipelineConfig` through the seven stages.

    :param config: the pipeline; ``PipelineConfig()`` is the embedded default.
    :param registry: the plugin registry; a fresh one from
        :func:`~astraguard_train.plugins.build_registry` when omitted.
    :param hooks: False fires no hooks; the caller fires them from the result (as
        ``compare`` does, whose runs may happen in worker processes).
    """

    def __init__(
        self,
        config: PipelineConfig | None = None,
        registry: Registry | None = None,
        *,
        hooks: bool = True,
    ):
        from ..plugins.manager import build_registry

        self.config = config or PipelineConfig()
        self.registry = registry or build_registry()
        self.context: RunContext | None = None
        # A sweep's worker runs are silent: the parent process fires their hooks.
        self._hook: Any = self.registry.hook if hooks else _SILENT

    @property
    def detector(self) -> TrainedDetector | None:
        return self.context.detector if self.context else None

    def run(
        self,
        data: Any = None,
        *,
        output: str | None = None,
        stop_after: str | None = None,
        persist: bool = True,
        raise_on_error: bool = True,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        report: str | os.PathLike[str] | None = None,
        leaderboard: Any = None,
    ) -> RunResult:
        """Run every stage in order and return the :class:`RunResult`.

        Fires ``before_run``, the stage hooks, then ``after_run`` or ``on_run_error``.
        With ``report``, the HTML report is written after the last stage and before
        ``after_run``, and ``RunResult.report_path`` names it.

        :param data: in-memory input for the loader (a :class:`Frame` skips the loader's
            reading; records or arrays go to the configured loader).
        :param output: where the persist stage writes (default ``[persist] output``).
        :param stop_after: run only up to and including this stage.
        :param persist: False skips the persist stage.
        :param raise_on_error: raise the stage's error (a :class:`ConfigError` as is, anything
            else as :class:`StageError`) instead of returning a failed result.
        :param run_id: the id the hooks carry (a new one when omitted).
        :param parent_run_id: the id of the sweep this run belongs to, for the hooks.
        :param report: where to write the run's HTML report (needs the ``report`` extra).
        :param leaderboard: a sweep's :class:`~astraguard_train.report.Leaderboard` to show
            in the report (``tune`` passes it for its winner's run).
        :raises ConfigError: for an invalid config, before any stage runs.
        :raises MissingExtraError: with ``report``, when plotly is missing (before any stage).
        """
        self.config.check(self.registry)
        if report is not None:
            from ..report import check_available

            check_available()
        run_id = run_id or new_run_id()
        hook = self._hook
        hook.before_run(config=self.config, run_id=run_id, parent_run_id=parent_run_id)
        result, exc = self._stages(data, output, stop_after, persist, run_id)
        if exc is None and report is not None:
            result, exc = self._report(result, report, leaderboard)
        if exc is None:
            hook.after_run(
                result=result, config=self.config, run_id=run_id, parent_run_id=parent_run_id
            )
            return result
        hook.on_run_error(
            error=exc, config=self.config, run_id=run_id, stage=result.failed_stage,
            result=result, parent_run_id=parent_run_id,
        )
        if raise_on_error:
            _raise(exc, result)
        return result

    def run_stages(
        self, data: Any = None, *, run_id: str, stop_after: str | None = None
    ) -> RunResult:
        """Run the stages up to ``stop_after`` without persisting, firing only the stage
        hooks, under ``run_id``: for a sweep, whose shared stages belong to the sweep rather
        than to a run of their own.

        :raises ConfigError: for an invalid config, or as a stage raised it.
        :raises StageError: when a stage failed.
        """
        self.config.check(self.registry)
        result, exc = self._stages(data, None, stop_after, False, run_id)
        if exc is not None:
            _raise(exc, result)
        return result

    def _stages(
        self,
        data: Any,
        output: str | None,
        stop_after: str | None,
        persist: bool,
        run_id: str,
    ) -> tuple[RunResult, Exception | None]:
        ctx = RunContext(config=self.config, registry=self.registry, data=data, output=output)
        ctx.persisting = persist and stop_after in (None, "persist")
        ctx.fitting_groups = self.config.train.group_by is not None and (
            stop_after not in STAGES[: STAGES.index("train")])
        self.context = ctx
        try:
            return self._run_stages(ctx, persist, stop_after, run_id)
        finally:  # a cluster started for a train stage that never used it: stopped
            release_started_workers()

    def _run_stages(
        self, ctx: RunContext, persist: bool, stop_after: str | None, run_id: str
    ) -> tuple[RunResult, Exception | None]:
        done: list[StageResult] = []
        hook = self._hook
        for name in STAGES:
            if name == "persist" and not persist:
                break
            hook.before_stage(stage=name, config=self.config, run_id=run_id)
            start = time.perf_counter()
            known = len(ctx.warnings)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    summary = STAGE_FUNCTIONS[name](ctx)
                ctx.warnings.extend(
                    f"{name}: {w.message}" for w in caught if not _is_noise(w.category)
                )
                if len(ctx.warnings) > known:  # so progress shows them as the stage ends
                    summary = {**summary, "warnings": ctx.warnings[known:]}
            except Exception as exc:
                seconds = time.perf_counter() - start
                done.append(StageResult(name, seconds, {"error": str(exc)}))
                hook.on_pipeline_error(stage=name, error=exc, config=self.config, run_id=run_id)
                return self._result(ctx, done, status="failed", error=exc, stage=name), exc
            seconds = time.perf_counter() - start
            done.append(StageResult(name, seconds, summary))
            hook.after_stage(
                stage=name, seconds=seconds, summary=summary, config=self.config, run_id=run_id
            )
            if name == stop_after:
                break
        return self._result(ctx, done, status="success"), None

    def _report(
        self, result: RunResult, path: str | os.PathLike[str], leaderboard: Any
    ) -> tuple[RunResult, Exception | None]:
        from ..report import from_run, write_report

        assert self.context is not None
        try:
            written = write_report(from_run(self.context, leaderboard), path)
        except Exception as exc:
            failed = attrs.evolve(result, status="failed", error=_describe(exc),
                                  failed_stage="report")
            return failed, exc
        return attrs.evolve(result, report_path=str(written)), None

    def _result(
        self,
        ctx: RunContext,
        stages: list[StageResult],
        *,
        status: str,
        error: BaseException | None = None,
        stage: str | None = None,
    ) -> RunResult:
        split = ctx.split
        det = ctx.detector
        return RunResult(
            status=status,
            stages=tuple(stages),
            n_train_samples=ctx.plan.n_train if ctx.plan else (split.train.n_rows if split else 0),
            n_validation_samples=split.validation.n_rows if split else 0,
            n_test_samples=split.test.n_rows if split else 0,
            metrics=dict(ctx.metrics),
            threshold=det.threshold if det else None,
            threshold_info=dict(det.threshold_info) if det else {},
            artifact=ctx.artifact,
            feature_names=det.output_columns if det else (),
            counts=dict(ctx.counts),
            warnings=tuple(ctx.warnings),
            error=_describe(error) if error is not None else None,
            failed_stage=stage,
        )


def new_run_id() -> str:
    """A new id for a run or a sweep, as the lifecycle hooks carry it."""
    return uuid.uuid4().hex


class _SilentHooks:
    """Stands in for the plugin manager's hook relay and calls nothing."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return _ignore


def _ignore(**kwargs: Any) -> None:
    return None


_SILENT = _SilentHooks()


def _raise(exc: Exception, result: RunResult) -> NoReturn:
    if isinstance(exc, ConfigError):
        raise exc
    err = StageError(str(result.failed_stage), _describe(exc))
    err.result = result  # type: ignore[attr-defined]
    raise err from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, AstraGuardError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _is_noise(category: type[Warning]) -> bool:
    # Library deprecation chatter is for developers, not a run's warnings.
    return issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning))


def run_pipeline(config: PipelineConfig | None = None, **kwargs: Any) -> RunResult:
    """Build a registry, run ``config`` and return the :class:`RunResult`."""
    return Pipeline(config).run(**kwargs)
