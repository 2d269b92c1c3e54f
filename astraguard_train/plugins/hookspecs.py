"""Hook specifications: what a plugin may implement.

Registration hooks receive a ``register`` callback and call it once per thing they provide::

    @hookimpl
    def register_models(register):
        register("median_mad", MedianMAD, description="Robust median/MAD distance detector")

``register(name, factory, *, description=None)`` records the entry under the hook's kind. The
``factory`` is called with the stage's config parameters as keyword arguments; its signature's
keyword parameters (with their defaults) are the parameters the config may set, and its
docstring's first line is the description when none is given.

Hooks are always called with keyword arguments, so an implementation may accept fewer
arguments than its spec: specs grow by adding arguments, never by removing them.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT_NAME = "astraguard_train"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- registration ---------------------------------------------------------------------------


@hookspec
def register_loaders(register: Any) -> None:
    """Register loaders: factories whose instances turn a source into a :class:`Frame`.

    A loader instance has ``load(source=None) -> Frame`` and, where it can stream,
    ``iter_chunks(rows) -> Iterator[Frame]``.

    :param register: call ``register(name, factory, description=...)`` once per loader.
    """


@hookspec
def register_transforms(register: Any) -> None:
    """Register feature transforms: estimators with ``fit(frame)`` and ``transform(frame)``.

    Transforms work on whole frames (they may use timestamps and channels) and return a frame.

    :param register: call ``register(name, factory, description=...)`` once per transform.
    """


@hookspec
def register_scalers(register: Any) -> None:
    """Register scalers: scikit-learn transformers on the feature matrix, fitted on train only.

    :param register: call ``register(name, factory, description=...)`` once per scaler.
    """


@hookspec
def register_models(register: Any) -> None:
    """Register detectors: estimators with ``fit(X)`` returning self and ``score_samples(X)``.

    ``score_samples`` must return higher values for more anomalous rows.

    :param register: call ``register(name, factory, description=...)`` once per detector.
    """


@hookspec
def register_persisters(register: Any) -> None:
    """Register persisters: objects with ``dump(obj, path)`` and ``load(path, trusted)``.

    ``trusted`` is True when the bundle's signature was verified or the caller vouched for it;
    a format whose loading can run code (pickle) must raise ``UntrustedBundleError`` without it.

    :param register: call ``register(name, factory, description=...)`` once per format.
    """


@hookspec
def register_metrics(register: Any) -> None:
    """Register evaluation metrics: callables ``(y_true, scores, flags, frame) -> dict``.

    The returned mapping's keys join the run's ``metrics``; return an empty dict when the
    metric does not apply (for example, no timestamps for an event metric).

    :param register: call ``register(name, factory, description=...)``; ``factory(**params)``
        returns the metric callable.
    """


@hookspec
def register_thresholds(register: Any) -> None:
    """Register threshold strategies: factories of objects with ``choose(context) -> float``.

    :param register: call ``register(name, factory, description=...)`` once per strategy.
    """


@hookspec
def register_explainers(register: Any) -> None:
    """Register explainers: factories of objects that say which features drove a row's score.

    An explainer has ``fit(chain, features)`` (the chain's training features, after its
    transforms and scaler; returns self), ``fitted_state()`` / ``load_state(state)`` (what it
    learnt, as JSON-friendly data: it travels in the bundle's ``explainer.json``, never
    pickled) and ``explain(chain, features, scores, rows, rescore)`` returning
    :class:`~astraguard_train.explain.base.Contributions` for ``rows`` (see
    :class:`~astraguard_train.plugins.contracts.Explainer`). ``[explain] explainer`` names it.

    :param register: call ``register(name, factory, description=...)`` once per explainer.

    .. versionadded:: 0.2.0
    """


@hookspec
def register_review_strategies(register: Any) -> None:
    """Register review strategies: factories of objects with ``select(candidates, budget)``.

    ``select`` returns the positions of at most ``budget`` of the
    :class:`~astraguard_train.feedback.review.Candidates` (alarms and near misses), most
    useful first; ``astraguard-train review --strategy NAME`` writes them as a review sheet.
    A strategy that also has ``select_judged(candidates, budget, judged)``
    (:class:`~astraguard_train.plugins.contracts.ReadsVerdicts`) is called with the verdicts
    given before instead.

    :param register: call ``register(name, factory, description=...)`` once per strategy.

    .. versionadded:: 0.3.0
    """


@hookspec
def register_decision_rules(register: Any) -> None:
    """Register A/B decision rules: factories of objects with
    ``decide(comparison) -> Decision``.

    A rule reads a :class:`~astraguard_train.retraining.comparison.Comparison` of a champion
    and a challenger scored on the same rows and returns a
    :class:`~astraguard_train.retraining.decisions.Decision`: ``promote``, ``keep`` or
    ``inconclusive``, with reasons in figures an operator can check.

    :param register: call ``register(name, factory, description=...)`` once per rule.
    """


# -- stage lifecycle ------------------------------------------------------------------------


@hookspec
def before_stage(stage: str, config: Any, run_id: str) -> None:
    """Called before a pipeline stage runs.

    :param stage: the stage's name (``load``, ``validate``, ``prepare``, ``features``,
        ``train``, ``evaluate`` or ``persist``).
    :param config: the run's :class:`PipelineConfig`.
    :param run_id: the run the stage belongs to (see :func:`before_run`). The stages a sweep
        runs once for all its candidates (loading and splitting) carry the sweep's id.

    .. versionchanged:: 0.2.0 ``run_id``.
    """


@hookspec
def after_stage(
    stage: str, seconds: float, summary: dict[str, Any], config: Any, run_id: str
) -> None:
    """Called after a pipeline stage succeeded.

    :param stage: the stage's name.
    :param seconds: the stage's wall time.
    :param summary: a JSON-friendly description of the stage's output.
    :param config: the run's :class:`PipelineConfig`.
    :param run_id: the run the stage belongs to.

    .. versionchanged:: 0.2.0 ``run_id``.
    """


@hookspec
def on_pipeline_error(stage: str, error: BaseException, config: Any, run_id: str) -> None:
    """Called when a stage raised, before the error propagates.

    :param stage: the stage that failed.
    :param error: the exception it raised.
    :param config: the run's :class:`PipelineConfig`.
    :param run_id: the run the stage belongs to.

    .. versionchanged:: 0.2.0 ``run_id``.
    """


# -- run lifecycle --------------------------------------------------------------------------
#
# A run is one pass of a config through the stages (``run``, a candidate of ``compare``, the
# winner of ``tune``). A sweep (``tune`` or ``compare``) is the parent of the runs and
# candidates it makes: a tracker opens a parent record in before_sweep and one nested record
# per run or candidate whose ``parent_run_id`` is the sweep's ``run_id``.


@hookspec
def before_run(config: Any, run_id: str, parent_run_id: str | None) -> None:
    """Called when a run starts, after its config was checked and before its first stage.

    :param config: the run's :class:`PipelineConfig`.
    :param run_id: a new unique id (32 hex digits) that this run's stage hooks carry too.
    :param parent_run_id: the ``run_id`` of the sweep this run belongs to, or None.

    .. versionadded:: 0.2.0
    """


@hookspec
def after_run(result: Any, config: Any, run_id: str, parent_run_id: str | None) -> None:
    """Called when every stage of a run succeeded.

    :param result: the :class:`RunResult`: metrics, ``stages`` (name, seconds, summary),
        ``artifact`` (the bundle directory, None when nothing was persisted), ``report_path``
        (the HTML report, written before this hook fires; None when none was asked for).
    :param config: the run's :class:`PipelineConfig`.
    :param run_id: the run's id, as :func:`before_run` gave it.
    :param parent_run_id: the sweep's ``run_id``, or None.

    .. versionadded:: 0.2.0
    .. versionchanged:: 0.2.0 ``result.report_path``.
    """


@hookspec
def on_run_error(
    error: BaseException,
    config: Any,
    run_id: str,
    stage: str,
    result: Any,
    parent_run_id: str | None,
) -> None:
    """Called when a stage of a run failed, after :func:`on_pipeline_error` and before the
    error propagates (or the failed result is returned). Every :func:`before_run` is followed
    by exactly one :func:`after_run` or ``on_run_error``.

    :param error: the exception the stage raised.
    :param config: the run's :class:`PipelineConfig`.
    :param run_id: the run's id.
    :param stage: the stage that failed.
    :param result: the failed :class:`RunResult` (the stages up to the failure).
    :param parent_run_id: the sweep's ``run_id``, or None.

    .. versionadded:: 0.2.0
    """


# -- sweeps: tune and compare ---------------------------------------------------------------


@hookspec
def before_sweep(kind: str, config: Any, run_id: str, candidates: list[dict[str, Any]]) -> None:
    """Called when ``tune`` or ``compare`` starts, after its candidates were built and before
    the data is loaded.

    :param kind: ``tune`` or ``compare``.
    :param config: the base :class:`PipelineConfig`.
    :param run_id: the sweep's id: the ``parent_run_id`` of its runs and candidates. The
        stages it runs once for every candidate (load, validate, prepare) carry it.
    :param candidates: each candidate's keys, in candidate order (``{"model.name": "lof",
        "model.n_neighbors": 20}``).

    .. versionadded:: 0.2.0
    """


@hookspec
def after_candidate(
    params: dict[str, Any],
    metrics: dict[str, Any],
    run_id: str,
    parent_run_id: str,
    number: int,
    error: str | None,
) -> None:
    """Called once per candidate of a sweep, in the parent process, as its result arrives
    (candidates may be evaluated in worker processes).

    For ``compare`` each candidate is a full run: its :func:`before_run`, stage hooks and
    :func:`after_run` (or :func:`on_run_error`) come first, with the same ``run_id``. A
    ``tune`` candidate is fitted and scored on validation folds without the stages, so this is
    its only hook; ranked by consensus (no labels), candidates are reported once all are scored.

    :param params: the candidate's keys, as :func:`before_sweep` listed them.
    :param metrics: for ``tune`` the search metric on validation rows (``{"roc_auc": 0.91}``,
        or ``{"consensus_agreement": ...}``; None when it failed); for ``compare`` the run's
        test metrics.
    :param run_id: the candidate's own id.
    :param parent_run_id: the sweep's ``run_id``.
    :param number: the candidate's position in :func:`before_sweep`'s list.
    :param error: why the candidate failed, or None.

    .. versionadded:: 0.2.0
    """


@hookspec
def after_sweep(kind: str, result: Any, run_id: str) -> None:
    """Called when a sweep finished: every candidate reported and, for ``tune``, the winner run.

    :param kind: ``tune`` or ``compare``.
    :param result: the :class:`TuneResult` (``tune``) or the ranked list of
        :class:`Comparison` (``compare``).
    :param run_id: the sweep's id.

    .. versionadded:: 0.2.0
    """


@hookspec
def on_sweep_error(kind: str, error: BaseException, config: Any, run_id: str) -> None:
    """Called when a sweep failed after :func:`before_sweep` (the data could not be loaded or
    split, every candidate failed, the winner's run failed), before the error propagates.

    :param kind: ``tune`` or ``compare``.
    :param error: the exception.
    :param config: the base :class:`PipelineConfig`.
    :param run_id: the sweep's id.

    .. versionadded:: 0.2.0
    """
