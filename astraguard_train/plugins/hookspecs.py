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


# -- lifecycle ------------------------------------------------------------------------------


@hookspec
def before_stage(stage: str, config: Any) -> None:
    """Called before a pipeline stage runs.

    :param stage: the stage's name (``load``, ``validate``, ``prepare``, ``features``,
        ``train``, ``evaluate`` or ``persist``).
    :param config: the run's :class:`PipelineConfig`.
    """


@hookspec
def after_stage(stage: str, seconds: float, summary: dict[str, Any], config: Any) -> None:
    """Called after a pipeline stage succeeded.

    :param stage: the stage's name.
    :param seconds: the stage's wall time.
    :param summary: a JSON-friendly description of the stage's output.
    :param config: the run's :class:`PipelineConfig`.
    """


@hookspec
def on_pipeline_error(stage: str, error: BaseException, config: Any) -> None:
    """Called when a stage raised, before the error propagates.

    :param stage: the stage that failed.
    :param error: the exception it raised.
    :param config: the run's :class:`PipelineConfig`.
    """
