"""The MLflow plugin (plugins/astraguard-train-mlflow) against a real MLflow tracking server
started here on a loopback port (once per session), and against a local SQLite store.
Everything is read back through ``MlflowClient``."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from bundle_helpers import small_config

from astraguard_train import Frame, Pipeline, PipelineConfig
from astraguard_train.errors import StageError
from astraguard_train.plugins import build_registry
from astraguard_train.selection.tuning import compare, tune

pytestmark = pytest.mark.skipif(
    not any(ep.name == "mlflow" for ep in md.entry_points(group="astraguard_train")),
    reason="the MLflow plugin is not installed: pip install -e plugins/astraguard-train-mlflow",
)

#: How long a loaded machine may take to start the server (it imports a web app twice).
START_TIMEOUT = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The URI of an MLflow tracking server (SQLite backend, artifacts proxied to a temporary
    folder) on 127.0.0.1, stopped with its worker processes at the end of the session."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no background job workers
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root,
        start_new_session=True,  # its own process group: the web workers stop with it
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                text = (root / "server.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"the MLflow server did not start (exit {proc.poll()}):\n{text}")
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(autouse=True)
def no_tracking_env(monkeypatch):
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri: str, experiment: str) -> list:
    client = _client(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"experiment {experiment} was not created"
    return client.search_runs([found.experiment_id], max_results=100)


def _tracked(uri: str, **tables) -> tuple:
    """A quick config (:func:`small_config`, or ``tables`` as a whole) tracked at ``uri`` in
    a new experiment; and the experiment's name."""
    experiment = f"test-{uuid.uuid4().hex[:8]}"
    tracking = {"tracking": {"uri": uri, "experiment": experiment}}
    if tables:
        return PipelineConfig.from_dict({**tables, **tracking}), experiment
    return small_config(**tracking), experiment


def _rows(n: int = 400) -> Frame:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return Frame(X=X, columns=["a", "b", "c"], labels=(np.linalg.norm(X, axis=1) > 2.5))


# -- a run ----------------------------------------------------------------------------------


def test_a_run_logs_config_metrics_stage_times_and_its_bundle(server, tmp_path):
    config, experiment = _tracked(server)
    pipe = Pipeline(config)
    result = pipe.run(output=str(tmp_path))
    (run,) = _runs(server, experiment)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["model.name"] == "iforest" and params["model.n_estimators"] == "25"
    assert params["loader.n_samples"] == "600" and "tracking.uri" in params
    for name, value in result.metrics.items():
        if isinstance(value, float) and not np.isnan(value):
            assert run.data.metrics[name] == pytest.approx(value)
    for stage in result.stages:
        assert run.data.metrics[f"stage_seconds/{stage.name}"] == pytest.approx(stage.seconds)
    assert run.data.metrics["n_test_samples"] == result.n_test_samples
    assert len(run.data.tags["astraguard.run_id"]) == 32
    client = _client(server)
    listed = {a.path for a in client.list_artifacts(run.info.run_id, "bundle")}
    local = {f"bundle/{p.name}" for p in Path(result.artifact).iterdir()}
    assert listed == local and "bundle/manifest.json" in listed
    got = client.download_artifacts(run.info.run_id, "bundle/manifest.json", str(tmp_path))
    assert Path(got).read_bytes() == (Path(result.artifact) / "manifest.json").read_bytes()


def test_the_report_is_logged_when_the_run_wrote_one(server, tmp_path):
    from astraguard_train_mlflow import tracker

    config, experiment = _tracked(server)
    result = Pipeline(config).run(output=str(tmp_path), report=tmp_path / "report.html")
    (run,) = _runs(server, experiment)
    client = _client(server)
    assert [a.path for a in client.list_artifacts(run.info.run_id, "report")] == [
        "report/report.html"
    ]
    (tmp_path / "dl").mkdir()
    got = client.download_artifacts(run.info.run_id, "report/report.html", str(tmp_path / "dl"))
    assert Path(got).read_bytes() == Path(result.report_path).read_bytes()
    assert not tracker.open_runs()


def test_a_failed_run_is_marked_failed_with_its_stage(server, tmp_path):
    config, experiment = _tracked(server)
    config = config.with_overrides(['loader.name="csv"', f'loader.path="{tmp_path}/none.csv"'])
    with pytest.raises(StageError):
        Pipeline(config).run(output=str(tmp_path))
    (run,) = _runs(server, experiment)
    assert run.info.status == "FAILED"
    assert run.data.tags["astraguard.failed_stage"] == "load"
    assert "none.csv" in run.data.tags["astraguard.error"]


# -- sweeps ---------------------------------------------------------------------------------


def test_tune_logs_a_parent_run_with_each_candidate_and_the_winner_nested(server, tmp_path):
    config, experiment = _tracked(
        server,
        split={"strategy": "random", "test_size": 0.3, "seed": 1},
        model={"name": "iforest", "n_estimators": 20, "random_state": 0},
        search={"validation_size": 0.3, "space": {"model.name": ["iforest", "lof"]}},
    )
    result = tune(config, data=_rows(), output=str(tmp_path))
    runs = _runs(server, experiment)
    (parent,) = [r for r in runs if r.data.tags.get("astraguard.kind") == "tune"]
    assert parent.info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    candidates = {r.data.tags["astraguard.candidate"]: r for r in children
                  if "astraguard.candidate" in r.data.tags}
    assert len(candidates) == len(result.leaderboard) == 2
    for entry in result.leaderboard:
        run = candidates[str(entry.number)]
        assert run.data.params["model.name"] == entry.params["model.name"]
        assert run.data.metrics[result.metric] == pytest.approx(entry.score)
    (winner,) = [r for r in children if "astraguard.candidate" not in r.data.tags]
    assert winner.data.params["model.name"] == result.best.params["model.name"]
    assert winner.info.status == "FINISHED"
    assert parent.data.metrics[f"best_{result.metric}"] == pytest.approx(result.best.score)
    assert len(runs) == 4


def test_compare_nests_one_run_per_model_and_marks_the_failed_one(server):
    config, experiment = _tracked(
        server,
        split={"strategy": "random", "test_size": 0.3, "seed": 1},
        model={"name": "ocsvm", "kernel": "nope"},
    )
    rows = compare(config, ["iforest", "ocsvm"], data=_rows())
    runs = _runs(server, experiment)
    (parent,) = [r for r in runs if r.data.tags.get("astraguard.kind") == "compare"]
    children = {r.data.params["model.name"]: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == {"iforest", "ocsvm"} and len(runs) == 3
    assert children["iforest"].info.status == "FINISHED"
    assert children["ocsvm"].info.status == "FAILED"
    good = next(r for r in rows if r.model == "iforest")
    assert children["iforest"].data.metrics["roc_auc"] == pytest.approx(good.metrics["roc_auc"])
    assert {r.data.tags["astraguard.candidate"] for r in children.values()} == {"0", "1"}
    # The shared stages (load, validate, prepare) belong to the sweep's run.
    assert "stage_seconds/load" in parent.data.metrics


# -- switched on and off --------------------------------------------------------------------


def test_a_local_sqlite_store_named_by_the_environment_variable(monkeypatch, tmp_path):
    uri = f"sqlite:///{tmp_path / 'local.db'}"
    monkeypatch.chdir(tmp_path)  # where the store puts artifacts by default (./mlruns)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "local")
    result = Pipeline(small_config()).run(output=str(tmp_path / "models"))
    (run,) = _runs(uri, "local")
    assert run.info.status == "FINISHED"
    assert run.data.metrics["roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    names = {a.path for a in _client(uri).list_artifacts(run.info.run_id, "bundle")}
    assert "bundle/manifest.json" in names


def test_without_a_tracking_uri_it_does_nothing_and_says_nothing(monkeypatch, tmp_path, capfd):
    import mlflow.tracking

    def refuse(*args, **kwargs):
        raise AssertionError("the plugin made an MLflow client without a tracking URI")

    monkeypatch.setattr(mlflow.tracking, "MlflowClient", refuse)
    monkeypatch.chdir(tmp_path)
    registry = build_registry()
    assert registry.hook.before_run.get_hookimpls()  # the plugin is loaded...
    result = Pipeline(small_config(), registry).run(output=str(tmp_path / "models"))
    assert result.ok
    out, err = capfd.readouterr()
    assert "mlflow" not in (out + err).lower()  # ...and silent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]  # no ./mlruns either
    from astraguard_train_mlflow import tracker

    assert not tracker.open_runs()


def test_config_is_flattened_into_params_as_the_core_writes_it(server, tmp_path):
    config, experiment = _tracked(server)
    Pipeline(config).run(output=str(tmp_path))
    (run,) = _runs(server, experiment)
    from astraguard_train.plain_values import flatten

    expected = {k: str(v) for k, v in flatten(json.loads(json.dumps(config.to_dict()))).items()}
    assert run.data.params == expected


def test_a_registry_holding_the_plugin_can_be_sent_to_worker_processes():
    import pickle

    import cloudpickle
    from astraguard_train_mlflow import tracker

    registry = build_registry()  # tune and compare send it to their workers (loky, Dask)
    copy = pickle.loads(cloudpickle.dumps(registry))
    assert copy.has("model", "iforest")
    # A worker's tracker is its own process's, not a copy of this one's open runs.
    assert pickle.loads(pickle.dumps(tracker)) is tracker
