"""Fitting the chain(s): the ``features`` and ``train`` stages, and threshold choice.

One chain is fitted per group when ``[train] group_by`` is set (plus a fallback chain on all
groups when ``[train] fallback = true``), otherwise one global chain under the key ``None``.
"""

from __future__ import annotations

import contextlib
import pickle
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs

from ..config import PipelineConfig
from ..data.frame import Frame
from ..data.missing import MedianImputer
from ..data.splits import Split
from ..errors import DataError
from ..features.selection import selection_reports
from ..parallel import gc_paused, start_workers, workers_up
from ..plugins import contracts
from ..plugins.registry import Registry
from .detector import Chain, TrainedDetector, threshold_value
from .threshold_context import ThresholdContext

__all__ = ["ThresholdContext", "TrainingPlan", "fit_detector", "new_chain", "plan_training"]

T = TypeVar("T")


@attrs.define(eq=False)
class TrainingPlan:
    """The output of the ``features`` stage: per chain key, the chain and its training rows."""

    chains: dict[Any, Chain]
    features: dict[Any, Frame]
    validation: dict[Any, Frame]
    counts: dict[str, int] = attrs.field(factory=dict)
    #: what the selecting transforms dropped and why (``selection_reports``)
    selection: list[dict[str, Any]] = attrs.field(factory=list)
    #: seconds spent fitting the chains' transforms and scalers, summed over the chains
    feature_seconds: float = 0.0
    #: seconds spent fitting the chains whole (transforms, scaler, model and threshold),
    #: summed over the chains (models in whichever workers fitted them)
    fit_seconds: float = 0.0
    #: the rows ``features`` come from: the split's training part, less the labelled
    #: anomalies when ``[train] exclude_labelled_anomalies`` leaves them out
    train: Frame | None = None
    #: waits until the workers that fit the groups' models are up (started beforehand)
    workers_ready: Callable[[], None] = workers_up

    @property
    def n_train(self) -> int:
        keys = [k for k in self.features if k is not None] or [None]
        return sum(self.features[k].n_rows + self.chains[k].rows_dropped_ for k in keys)

    def summary(self) -> dict[str, Any]:
        first = next(iter(self.chains.values()))
        return {
            "groups": len(self.chains),
            "input_features": len(first.input_columns),
            "output_features": list(first.output_columns),
            "rows_dropped": sum(c.rows_dropped_ for c in self.chains.values()),
            **({"feature_selection": self.selection} if self.selection else {}),
        }


def new_chain(config: PipelineConfig, registry: Registry) -> Chain:
    """Build an unfitted chain from the config's transform, scaler and model tables."""
    transforms = [
        registry.create("transform", t.name, t.params, where=f"transforms.{i}")
        for i, t in enumerate(config.transforms)
    ]
    if config.missing.policy == "median":
        # First, so it is fitted on the training part only and travels in the bundle.
        transforms.insert(0, MedianImputer())
    scaler = registry.create("scaler", config.scaler.name, config.scaler.params, where="scaler")
    model = registry.create("model", config.model.name, config.model.params, where="model")
    return Chain(transforms, scaler, model)


def copies(make: Callable[[], T], n: int) -> Iterator[T]:
    """``n`` objects as ``make()`` builds them: the first built, the others unpickled from it
    (all built when it cannot be pickled).

    Building checks a plugin's parameters and contract each time, which for a fleet's
    thousands of chains costs more than unpickling copies of one.
    """
    if n < 1:
        return
    first = make()
    yield first
    try:
        blob = pickle.dumps(first, pickle.HIGHEST_PROTOCOL)
    except Exception:  # a plugin class defined in a function, say: fine in this process
        for _ in range(n - 1):
            yield make()
        return
    for _ in range(n - 1):
        yield pickle.loads(blob)


def start_group_workers(config: PipelineConfig, registry: Registry) -> Callable[[], None]:
    """Start the worker processes that will fit the groups' models (``[train] group_by`` with
    a ``loky`` backend on several cores), having them import what a chain needs; return a
    function that waits until they are up (:func:`~astraguard_train.parallel.start_workers`).

    Called as the run starts, so that their imports (a second or more each) overlap with
    loading the data, which leaves cores idle, rather than with the stages that fit. Nothing
    is started without groups; a chain that cannot be built starts nothing either (the
    ``features`` stage reports why).
    """
    if config.train.group_by is None:
        return workers_up
    try:
        payload = new_chain(config, registry)
    except Exception:
        return workers_up
    return start_workers(config.train.backend, config.train.n_jobs, payload)


def _model_uses_labels(config: PipelineConfig, registry: Registry) -> bool:
    model = registry.create("model", config.model.name, config.model.params, where="model")
    return contracts.uses_labels(model)


def _grouped(frame: Frame, group_by: str | None) -> dict[Any, Frame]:
    if group_by is None:
        return {None: frame}
    return frame.parts(group_by)


def plan_training(
    config: PipelineConfig,
    registry: Registry,
    split: Split,
    workers_ready: Callable[[], None] | None = None,
) -> TrainingPlan:
    """Build and fit each chain's transforms and scaler on its training rows.

    :param workers_ready: waits for the workers :func:`start_group_workers` started; None
        starts them here when there are several groups.
    """
    counts: dict[str, int] = {}
    train = split.train
    # A detector that learns from labels needs the labelled anomalies it would lose here.
    if (
        config.train.exclude_labelled_anomalies
        and train.labels is not None
        and not _model_uses_labels(config, registry)
    ):
        keep = train.labels != 1  # known normal and unlabelled rows
        counts["train_rows_excluded_anomalies"] = int((~keep).sum())
        train = train.take(keep)
    if train.n_rows == 0:
        raise DataError("the training part is empty")
    group_by = config.train.group_by
    train_groups = _grouped(train, group_by)
    if group_by is not None and config.train.fallback:
        train_groups[None] = train
    val_groups = _grouped(split.validation, group_by) if split.validation.n_rows else {}
    if group_by is not None and config.train.fallback and split.validation.n_rows:
        val_groups[None] = split.validation
    chains: dict[Any, Chain] = {}
    features: dict[Any, Frame] = {}
    seconds = 0.0
    fresh = copies(lambda: new_chain(config, registry), len(train_groups))
    ready = workers_ready or workers_up
    if workers_ready is None and len(train_groups) > 1:  # the groups' models are fitted in
        ready = start_group_workers(config, registry)  # workers: start them now
    with gc_paused() if len(train_groups) > 1 else contextlib.nullcontext():
        for (key, frame), chain in zip(train_groups.items(), fresh, strict=True):
            start = time.perf_counter()
            features[key] = chain.fit_features(frame)
            seconds += time.perf_counter() - start
            chains[key] = chain
    dropped = sum(c.rows_dropped_ for c in chains.values())
    if dropped:
        counts["train_rows_dropped_by_transforms"] = dropped
    # Per-group chains cover every training row once; a fallback chain would repeat them.
    counted = [c for k, c in chains.items() if k is not None] or list(chains.values())
    filled = sum(
        t.n_filled_ for c in counted for t in c.transforms[:1] if isinstance(t, MedianImputer)
    )
    if filled:
        counts["values_filled_median"] = int(filled)
    selection = selection_reports(chains, config.transforms)
    return TrainingPlan(
        chains, features, val_groups, counts, selection, seconds, train=train,
        workers_ready=ready,
    )


def fit_detector(
    config: PipelineConfig, registry: Registry, plan: TrainingPlan, split: Split
) -> TrainedDetector:
    """Fit every chain's model and choose its threshold (groups in batches, in parallel).

    A group whose fit fails fails the run, naming every such group and its error, or with
    ``[train] on_group_failure = "skip"`` is left out (``TrainedDetector.failed_groups``).
    """
    from .group_fit import check_failures, fit_groups

    keys = list(plan.chains)
    spec = config.threshold
    made = copies(lambda: registry.create("threshold", spec.name, spec.params,
                                          where="threshold"), len(keys))
    strategies = dict(zip(keys, made, strict=True))
    # strategies that look only at the validation part say so; the default is to score
    needs = contracts.needs_train_scores(strategies[keys[0]])
    plan.workers_ready()
    fits = fit_groups(
        [(plan.chains[k], plan.features[k], plan.validation.get(k), strategies[k], needs, k)
         for k in keys],
        n_jobs=config.train.n_jobs,
        backend=config.train.backend,
        scheduler=config.train.scheduler,
    )
    check_failures(fits, config.train.group_by, config.train.on_group_failure)
    done = [f for f in fits if f.error is None]
    chains = {f.group: f.chain for f in done if f.chain is not None}
    plan.chains.update(chains)  # the fitted ones from the workers; a failed one stays as was
    plan.fit_seconds = plan.feature_seconds + sum(f.seconds for f in fits)
    thresholds = {f.group: f.threshold for f in done}
    info: dict[str, Any] = {"method": spec.name, "params": dict(spec.params)}
    if len(fits) == 1:
        info.update(done[0].info)
    else:
        info["per_group"] = {str(k): threshold_value(thresholds[k]) for k in chains}
    from ..timeseries.postprocess import make_postprocessor

    return TrainedDetector(
        chains=chains,
        group_by=config.train.group_by,
        thresholds=thresholds,
        threshold_info=info,
        postprocess=make_postprocessor(config.postprocess.resolved(config.channel_telemetry)),
        failed_groups={str(f.group): f.error for f in fits if f.error is not None},
    )
