"""Record astraguard-train runs and sweeps in MLflow, through the public run hooks only.

Switched on by a tracking URI: ``[tracking] uri`` in the pipeline config, else the
``MLFLOW_TRACKING_URI`` environment variable. With neither, every hook returns at once: mlflow
is not even imported, and nothing is printed.

- a ``run``: one MLflow run holding the flattened config as parameters, the test metrics,
  each stage's wall time (``stage_seconds/<stage>``), the bundle directory (artifact path
  ``bundle``) and the HTML report when the run wrote one (``report``); a failed run ends
  ``FAILED`` with the error and the failed stage as tags;
- a ``tune`` or ``compare``: a parent run, and one nested run per candidate (a ``compare``
  candidate is a full run; a ``tune`` candidate holds its keys and validation metric; the
  ``tune`` winner's run is nested too).

The experiment is ``[tracking] experiment``, else ``MLFLOW_EXPERIMENT_NAME``, else
``astraguard-train``. Each MLflow run carries the astraguard run id as tag
``astraguard.run_id``.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from astraguard_train.plain_values import flatten
from astraguard_train.plugins.hookspecs import hookimpl

URI_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
DEFAULT_EXPERIMENT = "astraguard-train"
RUN_ID_TAG = "astraguard.run_id"
PARENT_TAG = "mlflow.parentRunId"  # how the MLflow UI nests runs
#: MLflow refuses longer parameter values; a longer one is cut, with a mark that it was.
MAX_PARAM_CHARS = 6000
#: Entries per ``log_batch`` call: the tracking server's limit for parameters.
BATCH = 100


@attrs.frozen
class _Open:
    """An MLflow run this process started for an astraguard run or sweep."""

    client: Any
    mlflow_id: str
    experiment_id: str
    parent: str | None


def tracking_uri(config: Any) -> str | None:
    """The tracking URI for ``config``: ``[tracking] uri``, else ``MLFLOW_TRACKING_URI``."""
    table = getattr(config, "tracking", None)
    return getattr(table, "uri", None) or os.environ.get(URI_ENV) or None


def _experiment_name(config: Any) -> str:
    table = getattr(config, "tracking", None)
    return (
        getattr(table, "experiment", None) or os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
    )


def _numbers(values: Mapping[str, Any]) -> dict[str, float]:
    """The entries that are numbers (not booleans, not NaN), as floats."""
    out = {}
    for key, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isnan(value):
                out[str(key)] = float(value)
    return out


def _param(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 3] + "..."


class MlflowTracker:
    """The hook implementations; one instance is the distribution's entry point."""

    def __init__(self) -> None:
        self._open: dict[str, _Open] = {}
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        # A registry sent to worker processes (tune, compare, per-channel training) carries
        # its plugins. Runs are recorded where the hooks fire, so a worker gets its own
        # process's tracker, not a copy of this one's open runs (nor its lock).
        return _process_tracker, ()

    # -- MLflow calls -----------------------------------------------------------------------
    def _start(
        self,
        config: Any,
        run_id: str,
        parent_run_id: str | None,
        name: str,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
    ) -> _Open | None:
        uri = tracking_uri(config)
        if uri is None:
            return None
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        experiment = _experiment(client, _experiment_name(config))
        all_tags = {RUN_ID_TAG: run_id, **tags}
        parent = self._open.get(parent_run_id) if parent_run_id else None
        if parent is not None:
            all_tags[PARENT_TAG] = parent.mlflow_id
        run = client.create_run(experiment, run_name=name, tags=all_tags)
        opened = _Open(client, run.info.run_id, experiment, parent_run_id)
        self._log(opened, params=params)
        with self._lock:
            self._open[run_id] = opened
        return opened

    @staticmethod
    def _log(
        opened: _Open,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Log in batches of at most :data:`BATCH` entries (the server's limit)."""
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.utils.time import get_current_time_millis

        now = get_current_time_millis()
        entries: list[tuple[str, Any]] = [
            *(("params", Param(k, _param(v))) for k, v in (params or {}).items()),
            *(("metrics", Metric(k, v, now, 0)) for k, v in (metrics or {}).items()),
            *(("tags", RunTag(k, _param(v))) for k, v in (tags or {}).items()),
        ]
        for i in range(0, len(entries), BATCH):
            batch: dict[str, list[Any]] = {"params": [], "metrics": [], "tags": []}
            for kind, entry in entries[i : i + BATCH]:
                batch[kind].append(entry)
            opened.client.log_batch(opened.mlflow_id, **batch)

    def _finish(self, run_id: str, status: str, keep: bool = False) -> _Open | None:
        """End the MLflow run of ``run_id``; ``keep`` leaves it findable (a sweep's candidate
        still to be reported by ``after_candidate``)."""
        with self._lock:
            opened = self._open.get(run_id) if keep else self._open.pop(run_id, None)
        if opened is not None:
            opened.client.set_terminated(opened.mlflow_id, status)
        return opened

    # -- runs -------------------------------------------------------------------------------
    @hookimpl
    def before_run(self, config: Any, run_id: str, parent_run_id: str | None) -> None:
        self._start(
            config, run_id, parent_run_id, name=config.model.name,
            params=flatten(config.to_dict()),
            tags={"astraguard.kind": "run", "astraguard.config": str(config.source or "")},
        )

    @hookimpl
    def after_stage(self, stage: str, seconds: float, run_id: str) -> None:
        opened = self._open.get(run_id)
        if opened is not None:
            self._log(opened, metrics={f"stage_seconds/{stage}": float(seconds)})

    @hookimpl
    def after_run(self, result: Any, run_id: str, parent_run_id: str | None) -> None:
        opened = self._open.get(run_id)
        if opened is None:
            return
        figures = {
            "n_train_samples": result.n_train_samples,
            "n_validation_samples": result.n_validation_samples,
            "n_test_samples": result.n_test_samples,
            "threshold": result.threshold,
            "pipeline_seconds": result.seconds,
            **{f"count/{k}": v for k, v in result.counts.items()},
        }
        self._log(opened, metrics={**_numbers(result.metrics), **_numbers(figures)})
        if result.artifact:
            opened.client.log_artifacts(opened.mlflow_id, result.artifact, "bundle")
        report = getattr(result, "report_path", None)  # written by cores that make reports
        if report:
            opened.client.log_artifact(opened.mlflow_id, report, "report")
        self._finish(run_id, "FINISHED", keep=parent_run_id is not None)

    @hookimpl
    def on_run_error(
        self, error: BaseException, run_id: str, stage: str, parent_run_id: str | None
    ) -> None:
        opened = self._open.get(run_id)
        if opened is None:
            return
        self._log(opened, tags={"astraguard.failed_stage": str(stage),
                                "astraguard.error": f"{type(error).__name__}: {error}"})
        self._finish(run_id, "FAILED", keep=parent_run_id is not None)

    # -- sweeps -----------------------------------------------------------------------------
    @hookimpl
    def before_sweep(
        self, kind: str, config: Any, run_id: str, candidates: list[dict[str, Any]]
    ) -> None:
        self._start(
            config, run_id, None, name=kind, params=flatten(config.to_dict()),
            tags={"astraguard.kind": kind, "astraguard.candidates": str(len(candidates))},
        )

    @hookimpl
    def after_candidate(
        self,
        params: dict[str, Any],
        metrics: dict[str, Any] | None,
        run_id: str,
        parent_run_id: str,
        number: int,
        error: str | None,
    ) -> None:
        parent = self._open.get(parent_run_id)
        if parent is None:
            return
        tags = {"astraguard.candidate": str(number)}
        if error:
            tags["astraguard.error"] = error
        run = self._open.get(run_id)
        if run is not None:  # a compare candidate: its run is logged already
            self._log(run, tags=tags)
            return
        # A tune candidate has no run of its own: it is logged as one, nested in the sweep.
        from mlflow.entities import RunStatus

        run = parent.client.create_run(
            parent.experiment_id,
            run_name=f"candidate {number}",
            tags={RUN_ID_TAG: run_id, PARENT_TAG: parent.mlflow_id, **tags},
        )
        opened = _Open(parent.client, run.info.run_id, parent.experiment_id, parent_run_id)
        self._log(opened, params=params, metrics=_numbers(metrics or {}))
        status = RunStatus.to_string(RunStatus.FAILED if error else RunStatus.FINISHED)
        opened.client.set_terminated(opened.mlflow_id, status)

    @hookimpl
    def after_sweep(self, kind: str, result: Any, run_id: str) -> None:
        opened = self._open.get(run_id)
        if opened is None:
            return
        best = getattr(result, "best", None)  # tune: the leaderboard's first entry
        score = getattr(best, "score", None)
        if isinstance(score, (int, float)):
            self._log(opened, metrics=_numbers({f"best_{result.metric}": score}))
        self._end_sweep(run_id, "FINISHED")

    @hookimpl
    def on_sweep_error(self, kind: str, error: BaseException, run_id: str) -> None:
        opened = self._open.get(run_id)
        if opened is None:
            return
        self._log(opened, tags={"astraguard.error": f"{type(error).__name__}: {error}"})
        self._end_sweep(run_id, "FAILED")

    def _end_sweep(self, run_id: str, status: str) -> None:
        with self._lock:
            children = [k for k, v in self._open.items() if v.parent == run_id]
            for k in children:
                self._open.pop(k)
        self._finish(run_id, status)

    def open_runs(self) -> Iterable[str]:
        """The astraguard ids of the runs and sweeps whose MLflow run is still held."""
        return tuple(self._open)


def _experiment(client: Any, name: str) -> str:
    """The id of experiment ``name``, created when missing (another process may race us)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def _process_tracker() -> MlflowTracker:
    return tracker


#: The instance the ``astraguard_train`` entry point registers.
tracker = MlflowTracker()
