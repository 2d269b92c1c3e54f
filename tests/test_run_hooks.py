"""Run-level hooks: a tracker written only against the hooks sees every run, stage and candidate.

``Tracker`` below is what an experiment-tracking plugin (MLflow, say) needs to do: open a
record per sweep and per run, nest runs and candidates under their sweep, attach stage times
and the bundle directory, close every record. The tests drive ``run``, ``tune`` and ``compare``
(in-process and with worker processes) and check the records it built.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from astraguard_train import Frame, Pipeline, PipelineConfig
from astraguard_train.errors import DataError, StageError
from astraguard_train.plugins import build_registry
from astraguard_train.plugins.hookspecs import hookimpl
from astraguard_train.selection.tuning import compare, tune

STAGES = ["load", "validate", "prepare", "features", "train", "evaluate", "persist"]


class Tracker:
    """Records every lifecycle hook call and builds one record per sweep, run and candidate."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.records: dict[str, dict[str, Any]] = {}

    def _new(self, run_id: str, kind: str, parent: str | None) -> dict[str, Any]:
        assert run_id not in self.records, f"{kind} {run_id} opened twice"
        record = {"kind": kind, "parent": parent, "stages": {}, "status": "open"}
        self.records[run_id] = record
        return record

    def _open(self, run_id: str) -> dict[str, Any]:
        record = self.records[run_id]
        assert record["status"] == "open", f"{run_id} used after it was closed"
        return record

    @hookimpl
    def before_sweep(self, kind, config, run_id, candidates):
        self.calls.append(("before_sweep", {"kind": kind, "run_id": run_id}))
        self._new(run_id, kind, None)["candidates"] = list(candidates)

    @hookimpl
    def after_sweep(self, kind, result, run_id):
        self.calls.append(("after_sweep", {"kind": kind, "run_id": run_id}))
        self._open(run_id)["status"] = "done"
        self.records[run_id]["result"] = result

    @hookimpl
    def on_sweep_error(self, kind, error, config, run_id):
        self.calls.append(("on_sweep_error", {"kind": kind, "run_id": run_id, "error": error}))
        self._open(run_id)["status"] = "failed"

    @hookimpl
    def before_run(self, config, run_id, parent_run_id):
        self.calls.append(("before_run", {"run_id": run_id, "parent": parent_run_id}))
        if parent_run_id is not None:
            self._open(parent_run_id)
        self._new(run_id, "run", parent_run_id)["config"] = config

    @hookimpl
    def after_run(self, result, config, run_id, parent_run_id):
        self.calls.append(("after_run", {"run_id": run_id}))
        record = self._open(run_id)
        assert record["parent"] == parent_run_id and record["config"] is config
        record.update(status="done", artifact=result.artifact, metrics=dict(result.metrics))

    @hookimpl
    def on_run_error(self, error, config, run_id, stage, result, parent_run_id):
        self.calls.append(("on_run_error", {"run_id": run_id, "stage": stage}))
        record = self._open(run_id)
        assert record["parent"] == parent_run_id and result.failed_stage == stage
        record.update(status="failed", error=error)

    @hookimpl
    def before_stage(self, stage, config, run_id):
        self.calls.append(("before_stage", {"stage": stage, "run_id": run_id}))
        self._open(run_id)["stages"][stage] = None

    @hookimpl
    def after_stage(self, stage, seconds, summary, config, run_id):
        self.calls.append(("after_stage", {"stage": stage, "run_id": run_id}))
        stages = self._open(run_id)["stages"]
        assert stages[stage] is None and seconds >= 0 and isinstance(summary, dict)
        stages[stage] = seconds

    @hookimpl
    def on_pipeline_error(self, stage, error, config, run_id):
        self.calls.append(("on_pipeline_error", {"stage": stage, "run_id": run_id}))
        self._open(run_id)["stages"][stage] = "failed"

    @hookimpl
    def after_candidate(self, params, metrics, run_id, parent_run_id, number, error):
        self.calls.append(("after_candidate", {"run_id": run_id, "number": number}))
        sweep = self._open(parent_run_id)
        assert sweep["candidates"][number] == params
        record = self.records.get(run_id) or self._new(run_id, "candidate", parent_run_id)
        assert record["parent"] == parent_run_id
        record.update(params=params, candidate_metrics=dict(metrics), number=number,
                      candidate_error=error)
        if record["kind"] == "candidate":
            record["status"] = "done"

    # -- views ----------------------------------------------------------------------------
    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.records.items() if r["kind"] == kind}

    def children(self, parent: str) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["parent"] == parent]

    def assert_all_closed(self) -> None:
        still_open = {k: r["kind"] for k, r in self.records.items() if r["status"] == "open"}
        assert not still_open, f"records never closed: {still_open}"


def _rows(n: int = 500, seed: int = 0, labelled: bool = True) -> Frame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    labels = (np.linalg.norm(X, axis=1) > 2.5).astype(int) if labelled else None
    return Frame(X=X, columns=["a", "b", "c"], labels=labels)


def _config(**search: Any) -> PipelineConfig:
    return PipelineConfig.from_dict({
        "split": {"strategy": "random", "test_size": 0.3, "seed": 1},
        "model": {"name": "iforest", "n_estimators": 20, "random_state": 0},
        "search": {"validation_size": 0.3, **search},
    })


@pytest.fixture
def tracked():
    tracker = Tracker()
    return tracker, build_registry(load_entrypoints=False, plugins=[tracker])


# -- run ------------------------------------------------------------------------------------


def test_a_run_opens_one_record_with_every_stage_and_its_bundle(tracked, tmp_path):
    tracker, registry = tracked
    result = Pipeline(_config(), registry).run(_rows(), output=str(tmp_path))
    (run_id, record), = tracker.records.items()
    assert record["kind"] == "run" and record["parent"] is None
    assert list(record["stages"]) == STAGES
    assert all(isinstance(s, float) for s in record["stages"].values())
    assert record["artifact"] == result.artifact and record["metrics"] == result.metrics
    names = [name for name, _ in tracker.calls]
    assert names[0] == "before_run" and names[-1] == "after_run"
    assert all(kw["run_id"] == run_id for _, kw in tracker.calls)
    tracker.assert_all_closed()


def test_an_explicit_run_id_is_the_one_every_hook_carries(tracked):
    tracker, registry = tracked
    Pipeline(_config(), registry).run(_rows(), persist=False, run_id="my-run")
    assert {kw["run_id"] for _, kw in tracker.calls} == {"my-run"}


class _Broken:
    """Fails to fit."""

    def fit(self, X, y=None):
        raise ValueError("cannot fit")

    def score_samples(self, X):  # pragma: no cover - never reached
        return np.zeros(len(X))


class _BrokenPlugin:
    @hookimpl
    def register_models(self, register):
        register("broken", _Broken)


@pytest.mark.parametrize("raise_on_error", [True, False])
def test_a_failing_run_ends_in_on_run_error(raise_on_error):
    tracker = Tracker()
    registry = build_registry(load_entrypoints=False, plugins=[tracker, _BrokenPlugin()])
    config = _config().evolve(model=_config().model.__class__("broken"))
    pipe = Pipeline(config, registry)
    if raise_on_error:
        with pytest.raises(StageError, match="cannot fit"):
            pipe.run(_rows(), persist=False)
    else:
        assert pipe.run(_rows(), persist=False, raise_on_error=False).failed_stage == "train"
    (record,) = tracker.records.values()
    assert record["status"] == "failed" and isinstance(record["error"], ValueError)
    assert record["stages"]["train"] == "failed" and "evaluate" not in record["stages"]
    assert [n for n, _ in tracker.calls][-2:] == ["on_pipeline_error", "on_run_error"]
    assert "after_run" not in [n for n, _ in tracker.calls]


def test_a_config_error_opens_no_run(tracked):
    tracker, registry = tracked
    config = _config().with_overrides(['model.name="no_such_model"'])
    with pytest.raises(Exception, match="no_such_model"):
        Pipeline(config, registry).run(_rows(), persist=False)
    assert tracker.calls == []


# -- tune -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labelled", "backend", "n_jobs", "metric"),
    [
        (True, "loky", 1, "roc_auc"),
        (True, "loky", 2, "roc_auc"),  # candidates fitted in worker processes
        (False, "threading", 2, "consensus_agreement"),
    ],
)
def test_tune_nests_every_candidate_and_the_winner_under_one_sweep(
    tracked, tmp_path, labelled, backend, n_jobs, metric
):
    tracker, registry = tracked
    config = _config(space={"model.name": ["iforest", "lof"], "model.n_neighbors": [5, 15]})
    result = tune(
        config, registry=registry, data=_rows(labelled=labelled), output=str(tmp_path),
        backend=backend, n_jobs=n_jobs,
    )
    (sweep_id, sweep), = tracker.of_kind("tune").items()
    assert sweep["status"] == "done" and sweep["result"] is result
    # The shared load/validate/prepare stages belong to the sweep itself.
    assert list(sweep["stages"]) == ["load", "validate", "prepare"]
    candidates = tracker.of_kind("candidate")
    assert len(candidates) == len(result.leaderboard) == len(sweep["candidates"]) == 3
    by_number = {c["number"]: c for c in candidates.values()}
    for entry in result.leaderboard:
        seen = by_number[entry.number]
        assert seen["parent"] == sweep_id and seen["params"] == entry.params
        assert seen["candidate_metrics"] == {metric: entry.score}
    (winner,) = tracker.of_kind("run").values()
    assert winner["parent"] == sweep_id and list(winner["stages"]) == STAGES
    assert winner["artifact"] == result.run.artifact
    assert winner["config"] == result.best_config
    names = [name for name, _ in tracker.calls]
    assert names[0] == "before_sweep" and names[-1] == "after_sweep"
    # Candidates are reported before the winner's run starts.
    assert max(i for i, n in enumerate(names) if n == "after_candidate") < names.index(
        "before_run"
    )
    tracker.assert_all_closed()


def test_tune_where_every_candidate_fails_ends_in_on_sweep_error(tmp_path):
    tracker = Tracker()
    registry = build_registry(load_entrypoints=False, plugins=[tracker, _BrokenPlugin()])
    config = _config(space={"model.name": ["broken"]})
    with pytest.raises(DataError, match="every candidate failed"):
        tune(config, registry=registry, data=_rows(), output=str(tmp_path))
    (sweep,) = tracker.of_kind("tune").values()
    assert sweep["status"] == "failed"
    (cand,) = tracker.of_kind("candidate").values()
    assert "cannot fit" in cand["candidate_error"]
    assert cand["candidate_metrics"] == {"roc_auc": None}
    assert tracker.calls[-1][0] == "on_sweep_error"
    tracker.assert_all_closed()


# -- compare --------------------------------------------------------------------------------


@pytest.mark.parametrize(("backend", "n_jobs"), [("loky", 1), ("loky", 2)])
def test_compare_gives_each_model_a_full_nested_run(tracked, backend, n_jobs):
    tracker, registry = tracked
    # Worker processes build their own registry, so the failing model is a built-in one: the
    # base config's ocsvm keeps its (invalid) kernel, which fails when the model is fitted.
    config = _config().with_overrides(['model.name="ocsvm"', 'model.kernel="nope"'])
    models = ["iforest", "ocsvm", "lof"]
    rows = compare(
        config, models, registry=registry, data=_rows(), backend=backend, n_jobs=n_jobs
    )
    (sweep_id, sweep), = tracker.of_kind("compare").items()
    assert sweep["status"] == "done" and sweep["result"] == rows
    assert sweep["candidates"] == [{"model.name": m} for m in models]
    assert list(sweep["stages"]) == ["load", "validate", "prepare"]
    runs = tracker.children(sweep_id)
    assert [r["number"] for r in runs] == [0, 1, 2]
    assert all(r["kind"] == "run" for r in runs)  # a compare candidate is a run
    by_model = {r["params"]["model.name"]: r for r in runs}
    for model in ("iforest", "lof"):
        run = by_model[model]
        assert run["status"] == "done" and list(run["stages"]) == STAGES[:-1]
        assert run["config"].model.name == model
        assert run["candidate_metrics"] == run["metrics"] and "roc_auc" in run["metrics"]
        assert run["candidate_error"] is None
    broken = by_model["ocsvm"]
    assert broken["status"] == "failed" and broken["stages"]["train"] == "failed"
    assert isinstance(broken["error"], StageError) and "kernel" in str(broken["error"])
    assert "kernel" in broken["candidate_error"]
    assert [r.model for r in rows][-1] == "ocsvm"
    tracker.assert_all_closed()


def test_compare_that_cannot_load_its_data_ends_in_on_sweep_error(tracked):
    tracker, registry = tracked
    config = _config().with_overrides(['loader.name="csv"', 'loader.path="/no/such/file.csv"'])
    with pytest.raises(Exception, match="file.csv"):
        compare(config, ["iforest"], registry=registry)
    assert [n for n, _ in tracker.calls][0] == "before_sweep"
    assert tracker.calls[-1][0] == "on_sweep_error"
    tracker.assert_all_closed()


# -- the documented example -------------------------------------------------------------------


def test_the_tracker_in_the_docs_runs_as_shown():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "plugin-hooks.md").read_text()
    block = text.split("A tracking plugin, written against the hooks alone", 1)[1]
    code = block.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/plugin-hooks.md", "exec"), namespace)
    tracker = namespace["Tracker"]()
    registry = build_registry(load_entrypoints=False, plugins=[tracker])
    compare(_config(), ["iforest", "lof"], registry=registry, data=_rows())
    (sweep_id,) = [k for k, r in tracker.records.items() if r["kind"] == "compare"]
    runs = [r for r in tracker.records.values() if r["parent"] == sweep_id]
    assert [r["params"] for r in runs] == [{"model.name": "iforest"}, {"model.name": "lof"}]
    assert all(list(r["stages"]) == STAGES[:-1] and "roc_auc" in r["metrics"] for r in runs)
    assert list(tracker.records[sweep_id]["stages"]) == ["load", "validate", "prepare"]
