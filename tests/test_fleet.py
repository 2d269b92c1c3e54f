"""Per-channel training and scoring at fleet scale: batches on a real Dask cluster (a
``dask scheduler`` and two ``dask worker`` processes started here, on 127.0.0.1), failed
channels named, a worker killed mid-run, and bundles that read only the channels they use."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import attrs
import numpy as np
import pytest

from astraguard_train.bundle.group_files import GROUPS_INDEX, same_groups
from astraguard_train.bundle.persisters import JoblibPersister
from astraguard_train.bundle.scoring import load_bundle
from astraguard_train.bundle.store import verify
from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.data.synthetic import generate
from astraguard_train.errors import IntegrityError, StageError, UntrustedBundleError
from astraguard_train.training.group_fit import BATCHES_PER_WORKER, batches
from astraguard_train.training.pipeline import Pipeline

distributed = pytest.importorskip("distributed")

DASK = Path(sys.executable).parent / "dask"
CHANNELS = 24


def _start(argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(DASK), *argv], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def scheduler(tmp_path_factory):
    """The address of a scheduler with two single-threaded workers, all on 127.0.0.1."""
    if not DASK.is_file():
        pytest.skip(f"no dask command at {DASK} (pip install 'astraguard-train[dask]')")
    work = tmp_path_factory.mktemp("dask")
    file = work / "scheduler.json"
    procs = [_start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(file)], work)]
    try:
        for _ in range(2):
            procs.append(_start(["worker", "--scheduler-file", str(file), "--host",
                                 "127.0.0.1", "--nthreads", "1", "--no-dashboard"], work))
        with distributed.Client(scheduler_file=str(file), timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            address = client.scheduler.address
        yield {"address": address, "file": file, "work": work}
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.fixture(scope="module")
def fleet() -> Frame:
    frame = generate(n_samples=300, n_channels=CHANNELS, seed=5)
    return frame


def _config(tmp_path: Path, model: dict | None = None, **train) -> PipelineConfig:
    return PipelineConfig.from_dict({
        "split": {"strategy": "time", "test_size": 0.3},
        "train": {"group_by": "channel", **train},
        "scaler": {"name": "none"},
        "model": {"name": "forecast", "target": "voltage", "window": 10, **(model or {})},
        "threshold": {"name": "dynamic", "window": 60, "step": 20},
        "persist": {"output": str(tmp_path / "models")},
        "evaluate": {"metrics": ["events"]},
    })


def _train(tmp_path: Path, frame: Frame, model: dict | None = None, **train):
    return Pipeline(_config(tmp_path, model, **train)).run(frame)


@pytest.fixture(scope="module")
def local_bundle(tmp_path_factory, fleet):
    return Path(_train(tmp_path_factory.mktemp("local"), fleet).artifact)


def test_chains_are_compared_by_value(local_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(local_bundle, copy)
    index = json.loads((copy / GROUPS_INDEX).read_text())["groups"]
    persister = JoblibPersister()
    group = persister.load(copy / index[3]["file"], trusted=True)
    group["chain"].model.regressor_.coef_[0] += 1e-12
    persister.dump(group, copy / index[3]["file"])
    assert same_groups(local_bundle, copy, persister) == [index[3]["key"]]


def test_channels_are_batched_in_consecutive_runs_covering_all():
    parts = batches(10_000, 2)
    assert len(parts) == 2 * BATCHES_PER_WORKER
    assert [i for p in parts for i in range(p.start, p.stop)] == list(range(10_000))
    assert len(batches(3, 8)) == 3


def test_the_collector_is_paused_while_the_fitted_chains_come_back(monkeypatch):
    from astraguard_train.training import group_fit

    seen = []

    def run(func, jobs, **kwargs):
        seen.append(gc.isenabled())
        return [func(*job) for job in jobs]

    monkeypatch.setattr(group_fit, "run_parallel", run)
    monkeypatch.setattr(group_fit, "fit_group", lambda *item: group_fit.GroupFit(item[-1]))
    was = gc.isenabled()
    gc.enable()
    try:
        fits = group_fit.fit_groups([(None, None, None, None, True, k) for k in "abc"],
                                    n_jobs=2, backend="loky", scheduler=None)
        assert seen == [False] and gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
    assert [f.group for f in fits] == ["a", "b", "c"]


def test_a_dask_cluster_trains_the_same_bundle_as_local(scheduler, fleet, local_bundle,
                                                         tmp_path):
    result = _train(tmp_path, fleet, backend="dask", scheduler=scheduler["address"],
                    n_jobs=2)
    dask = Path(result.artifact)
    assert same_groups(local_bundle, dask, JoblibPersister()) == []
    # byte for byte too: each channel's file has the same SHA-256
    local_i, dask_i = (json.loads((p / GROUPS_INDEX).read_text()) for p in (local_bundle, dask))
    assert local_i["groups"] == dask_i["groups"] and local_i["from_bytes"]
    local_m, dask_m = (json.loads((p / "manifest.json").read_text()) for p in (local_bundle, dask))
    for name in ("detector.joblib", "profile_sample.npy"):
        assert local_m["files"][name] == dask_m["files"][name]
    assert dask_m["n_groups"] == CHANNELS and dask_m["failed_groups"] == {}
    assert local_m["metrics"] == dask_m["metrics"]


def test_a_dask_local_cluster_started_with_the_run_trains_the_same_bundle(fleet, local_bundle,
                                                                         tmp_path, monkeypatch):
    import astraguard_train.parallel as parallel

    started = []
    start = parallel._start_local_cluster

    def start_ahead(workers, payload):
        started.append(workers)
        return start(workers, payload)

    monkeypatch.setattr(parallel, "_start_local_cluster", start_ahead)
    result = _train(tmp_path, fleet, backend="dask-local", n_jobs=2)
    assert started == [2] and parallel._ahead == []  # started as the run began, and used
    there = Path(result.artifact)
    assert same_groups(local_bundle, there, JoblibPersister()) == []
    local_i, there_i = (json.loads((p / GROUPS_INDEX).read_text()) for p in (local_bundle, there))
    assert local_i["groups"] == there_i["groups"]


def test_scoring_on_the_cluster_equals_scoring_here(scheduler, fleet, local_bundle):
    bundle = load_bundle(local_bundle, trusted=True)
    here = bundle.score(fleet)
    there = bundle.score(fleet, backend="dask", scheduler=scheduler["address"], n_jobs=2)
    for name in ("scores", "flags", "thresholds"):
        assert np.array_equal(getattr(here, name), getattr(there, name)), name
    assert np.array_equal(here.frame.index, there.frame.index)
    assert np.array_equal(here.frame.channels, there.frame.channels)
    assert here.counts == there.counts
    assert here.flags.any()


def test_a_worker_killed_mid_run_has_its_channels_retried(scheduler, tmp_path):
    frame = generate(n_samples=400, n_channels=48, seed=9)
    victim = _start(["worker", "--scheduler-file", str(scheduler["file"]), "--host",
                     "127.0.0.1", "--nthreads", "1", "--no-dashboard", "--no-nanny",
                     "--name", "victim"], scheduler["work"])
    outcome: dict[str, object] = {}
    try:
        with distributed.Client(scheduler["address"], timeout=60) as client:
            client.wait_for_workers(3, timeout=120)
            address = next(a for a, w in client.scheduler_info()["workers"].items()
                           if w.get("name") == "victim")

            def run() -> None:
                try:
                    outcome["result"] = _train(tmp_path, frame, backend="dask",
                                               scheduler=scheduler["address"], n_jobs=3)
                except StageError as exc:
                    outcome["error"] = exc

            thread = threading.Thread(target=run)
            thread.start()
            killed_mid_run = False
            while thread.is_alive() and not killed_mid_run:
                if client.processing(workers=[address]).get(address):
                    os.kill(victim.pid, signal.SIGKILL)
                    killed_mid_run = True
                time.sleep(0.01)
            thread.join(timeout=300)
    finally:
        _stop(victim)
    assert killed_mid_run, "the run ended before the worker had work"
    if "error" in outcome:  # allowed only when it names the channels it lost
        assert "batch was lost" in str(outcome["error"]) and "BUS-" in str(outcome["error"])
    else:
        manifest = json.loads((Path(outcome["result"].artifact) / "manifest.json").read_text())
        assert manifest["n_groups"] == 48 and manifest["failed_groups"] == {}


#: a forecaster asking for 5 neighbours, which a channel of 3 rows cannot give
KNN = {"regressor": "knn", "regressor_params": {"n_neighbors": 5}}


def _with_short_channel(frame: Frame) -> Frame:
    """``frame`` with channel BUS-3 cut to its first 3 rows."""
    short = np.flatnonzero(frame.channels == "BUS-3")[3:]
    return frame.take(np.setdiff1d(np.arange(frame.n_rows), short))


def test_a_channel_that_cannot_be_fitted_fails_the_run_by_name(fleet, tmp_path):
    with pytest.raises(StageError, match=r"group 'BUS-3' \(\d+ training rows\)") as info:
        _train(tmp_path, _with_short_channel(fleet), KNN)
    assert "on_group_failure" in str(info.value)
    assert not (tmp_path / "models").exists()


def test_skipping_a_failed_channel_writes_a_bundle_that_says_so(fleet, tmp_path):
    frame = _with_short_channel(fleet)
    result = _train(tmp_path, frame, KNN, on_group_failure="skip")
    assert result.status == "success"
    assert any("'BUS-3' left out of the bundle" in w for w in result.warnings)
    train = next(s for s in result.stages if s.name == "train").summary
    assert list(train["failed_groups"]) == ["BUS-3"]
    manifest = verify(result.artifact)
    assert list(manifest["failed_groups"]) == ["BUS-3"]
    assert manifest["n_groups"] == CHANNELS - 1
    bundle = load_bundle(result.artifact, trusted=True)
    with pytest.raises(Exception, match="BUS-3 left out: their fit failed"):
        bundle.score(frame.take(frame.channels == "BUS-3"))


def test_scoring_one_channel_reads_only_its_file(fleet, local_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(local_bundle, copy)
    index = json.loads((copy / GROUPS_INDEX).read_text())["groups"]
    other = next(e for e in index if e["key"] == "BUS-7")
    (copy / other["file"]).write_bytes(b"altered")  # a channel the scoring below never needs
    bundle = load_bundle(copy, trusted=True)
    files = bundle.detector.chains.files
    assert files.loaded == ()
    one = fleet.take(fleet.channels == "BUS-2")
    scored = bundle.score(one)
    assert files.loaded == ("BUS-2",)
    whole = load_bundle(local_bundle, trusted=True).score(fleet)
    mine = whole.frame.channels == "BUS-2"
    assert np.array_equal(scored.scores, whole.scores[mine])
    with pytest.raises(IntegrityError, match=f"{other['file']}: SHA-256 does not match"):
        verify(copy)
    with pytest.raises(IntegrityError, match=f"{other['file']}: SHA-256 does not match"):
        bundle.score(fleet.take(fleet.channels == "BUS-7"))


def test_verify_covers_every_channel_file(local_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(local_bundle, copy)
    assert verify(copy)["n_groups"] == CHANNELS
    (copy / "groups" / "999999.joblib").write_bytes(b"")
    with pytest.raises(IntegrityError, match="999999.joblib: not listed"):
        verify(copy)
    (copy / "groups" / "999999.joblib").unlink()
    first = sorted((copy / "groups").iterdir())[0]
    first.unlink()
    with pytest.raises(IntegrityError, match=f"{first.name}: listed in groups.json but missing"):
        verify(copy)
    out = subprocess.run([sys.executable, "-m", "astraguard_train", "models", "verify",
                          str(local_bundle)], capture_output=True, text=True, check=True)
    assert f"intact ({CHANNELS} group files)" in out.stdout


def test_a_bundle_with_every_chain_in_its_detector_file_still_loads(fleet, local_bundle,
                                                                    tmp_path):
    """The layout before group files: one detector file, the keys in the manifest."""
    import joblib
    from bundle_helpers import rewrite_manifest

    copy = tmp_path / "bundle"
    shutil.copytree(local_bundle, copy)
    whole = load_bundle(copy, trusted=True).detector
    old = type(whole)(chains=dict(whole.chains), group_by=whole.group_by,
                      thresholds=dict(whole.thresholds), threshold_info=whole.threshold_info,
                      postprocess=whole.postprocess)
    joblib.dump(old, copy / "detector.joblib")
    shutil.rmtree(copy / "groups")
    (copy / GROUPS_INDEX).unlink()

    def as_before(m):
        for key in ("n_groups", "group_files", "failed_groups"):
            m.pop(key)
        m["groups"] = sorted(old.chains)
        m["files"].pop(GROUPS_INDEX)
        m["files"]["detector.joblib"] = hashlib.sha256(
            (copy / "detector.joblib").read_bytes()).hexdigest()

    rewrite_manifest(copy, as_before)
    bundle = load_bundle(copy, trusted=True)
    assert isinstance(bundle.detector.chains, dict)
    here = load_bundle(local_bundle, trusted=True).score(fleet)
    assert np.array_equal(bundle.score(fleet).scores, here.scores)


def test_the_score_command_scores_on_the_cluster_as_here(scheduler, fleet, local_bundle,
                                                          tmp_path):
    from bundle_helpers import CSV_OPTIONS, frame_to_csv

    from astraguard_train.cli import main

    data = frame_to_csv(fleet.take(np.isin(fleet.channels, ["BUS-1", "BUS-4", "BUS-9"])),
                        tmp_path / "three.csv")
    # trained from a Frame: the file's column roles are named here
    roles = [a for k, v in CSV_OPTIONS.items() for a in ("--loader-option", f"{k}={v}")]
    outputs = {}
    for name, extra in (("here", []), ("dask", ["--backend", "dask", "--scheduler",
                                                scheduler["address"], "--jobs", "2"])):
        out = tmp_path / f"{name}.csv"
        code = main(["score", str(local_bundle), str(data), "--trusted", "--output", str(out),
                     *roles, *extra])
        assert code == 0
        outputs[name] = out.read_bytes()
    assert outputs["here"] == outputs["dask"]
    assert outputs["here"].count(b"\n") > 100


def test_a_channel_file_depends_on_its_value_only():
    persister = JoblibPersister()
    shared = np.linspace(0.0, 1.0, 50)
    # the same values, once sharing an array (and its dtype), once as two copies of it
    one = {"a": shared, "b": shared, "name": "CH-1"}
    two = {"a": shared.copy(), "b": pickle.loads(pickle.dumps(shared)), "name": "CH-" + "1"}
    assert persister.dumps(one) == persister.dumps(two)
    back = persister.loads(persister.dumps(one), Path("x"), trusted=True)
    assert np.array_equal(back["b"], shared) and back["name"] == "CH-1"
    cyclic: dict = {"values": shared}
    cyclic["self"] = cyclic  # cannot go without the pickle memo; still round-trips
    assert persister.loads(persister.dumps(cyclic), Path("x"), trusted=True)["self"]["values"][
        -1] == 1.0
    packed = JoblibPersister(compress=3)
    assert np.array_equal(
        packed.loads(packed.dumps(one), Path("x"), trusted=True)["a"], shared)
    with pytest.raises(UntrustedBundleError, match="refusing to unpickle"):
        persister.loads(persister.dumps(one), Path("x"))


@pytest.mark.parametrize("layout", ["sorted runs", "interleaved"])
def test_scoring_channels_in_parallel_batches_equals_scoring_them_whole(fleet, local_bundle,
                                                                        layout):
    from astraguard_train.training.group_scoring import score_by_group, score_whole

    detector = load_bundle(local_bundle, trusted=True).detector
    frame = fleet
    if layout == "sorted runs":  # each channel's rows together, as read from a file so
        frame = attrs.evolve(frame.take(frame.time_order()), index=np.arange(frame.n_rows))
    assert (frame.sorted_runs() is not None) == (layout == "sorted runs")
    whole = score_whole(detector, frame)
    whole = whole.take(np.argsort(whole.frame.index, kind="stable"))
    parts = score_by_group(detector, frame, n_jobs=2, backend="loky")
    for name in ("scores", "flags", "thresholds"):
        assert getattr(whole, name).tobytes() == getattr(parts, name).tobytes(), name
    assert np.array_equal(whole.frame.index, parts.frame.index)
    assert np.array_equal(whole.frame.channels, parts.frame.channels)
    assert parts.flags.any()
    # rows scored as they were sent do not travel back: in sorted runs, the frame itself
    assert (parts.frame is frame) == (layout == "sorted runs")


def test_rows_are_the_same_when_every_field_is_byte_for_byte():
    from astraguard_train.training.group_scoring import same_rows

    frame = generate(n_samples=20, n_channels=2, seed=1)
    X = frame.X.copy()
    X[3, 0] = np.nan
    with_nan = frame.with_features(X, frame.columns)
    assert same_rows(with_nan, with_nan.take(np.arange(with_nan.n_rows)))  # NaN equals NaN
    changed = X.copy()
    changed[5, 0] += 1e-12
    assert not same_rows(with_nan, frame.with_features(changed, frame.columns))
    assert not same_rows(frame, frame.take(slice(1, None)))
    assert not same_rows(frame, frame.take(np.arange(frame.n_rows)[::-1]))
