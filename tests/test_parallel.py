"""run_parallel over every backend, including a Dask cluster started by hand on loopback."""

from __future__ import annotations

import gc
import os
import pickle
import time
import warnings

import numpy as np
import pytest

from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.errors import ConfigError
from astraguard_train.parallel import (
    Packed,
    gc_paused,
    iter_parallel,
    release_started_workers,
    run_parallel,
    start_workers,
    stop_starting_workers,
)
from astraguard_train.selection.tuning import tune


def _slow_square(x: int) -> int:
    time.sleep(0.02 * (3 - x % 3))  # later jobs finish first; results must keep input order
    return x * x


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
            processes=True,
        )
    with cluster:
        yield cluster


@pytest.mark.parametrize(("backend", "n_jobs"), [("loky", 1), ("loky", 2), ("threading", 3)])
def test_results_come_back_in_input_order(backend, n_jobs):
    jobs = [(i,) for i in range(7)]
    assert run_parallel(_slow_square, jobs, n_jobs=n_jobs, backend=backend) == [
        i * i for i in range(7)
    ]


def test_iter_parallel_yields_one_result_at_a_time():
    gen = iter_parallel(_slow_square, [(i,) for i in range(4)], n_jobs=2, backend="threading")
    assert next(gen) == 0
    assert list(gen) == [1, 4, 9]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"backend": "spark"}, "train.backend"),
        ({"n_jobs": 0}, "train.n_jobs"),
        ({"backend": "dask"}, "train.scheduler"),
    ],
)
def test_bad_settings_are_config_errors(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        run_parallel(_slow_square, [(1,), (2,)], **kwargs)


def test_unreachable_scheduler_is_a_config_error(monkeypatch):
    import astraguard_train.parallel as parallel

    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_SECONDS", 1)
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_parallel(_slow_square, [(1,)], backend="dask", scheduler="tcp://127.0.0.1:9")


def test_dask_scheduler_started_by_hand(cluster):
    jobs = [(i,) for i in range(5)]
    out = run_parallel(_slow_square, jobs, backend="dask", scheduler=cluster.scheduler_address)
    assert out == [i * i for i in range(5)]


def _frame() -> Frame:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 3))
    return Frame(X=X, columns=["a", "b", "c"], labels=(np.abs(X[:, 1]) > 1.8).astype(int))


def test_same_leaderboard_from_loky_dask_local_and_a_running_scheduler(cluster):
    config = PipelineConfig.from_dict({
        "split": {"strategy": "random", "test_size": 0.3, "seed": 2},
        "model": {"name": "iforest", "random_state": 3},
        "search": {"cv": 2, "space": {"model.name": ["iforest", "lof"],
                                     "model.n_neighbors": [5, 25]}},
    })
    frame = _frame()
    runs = {
        "serial": tune(config, data=frame, persist=False),
        "dask-local": tune(config, data=frame, persist=False, backend="dask-local", n_jobs=2),
        "dask": tune(config, data=frame, persist=False, backend="dask",
                     scheduler=cluster.scheduler_address),
    }
    boards = {k: [e.to_dict() for e in r.leaderboard] for k, r in runs.items()}
    assert boards["serial"] == boards["dask-local"] == boards["dask"]
    assert len(boards["serial"]) == 3
    metrics = {k: r.run.metrics["roc_auc"] for k, r in runs.items()}
    assert len(set(metrics.values())) == 1


def test_per_group_training_is_the_same_in_parallel(registry):
    base = {
        "loader": {"name": "synthetic", "n_samples": 600, "n_channels": 3},
        "train": {"group_by": "channel"},
    }
    from astraguard_train.training.pipeline import Pipeline

    serial = Pipeline(PipelineConfig.from_dict(base), registry).run(persist=False)
    threaded = PipelineConfig.from_dict({**base, "train": {"group_by": "channel", "n_jobs": 3,
                                                           "backend": "threading"}})
    parallel = Pipeline(threaded, registry).run(persist=False)
    assert serial.metrics == parallel.metrics
    assert serial.threshold_info["per_group"] == parallel.threshold_info["per_group"]


def _pid_and_sum(packed: Packed) -> Packed:
    return Packed((os.getpid(), sum(f.X.sum() for f in packed.value)))


def test_packed_travels_as_one_pickle_and_keeps_what_its_items_share():
    shared = np.arange(5.0)
    back = pickle.loads(pickle.dumps(Packed([shared, shared])))
    assert isinstance(back, Packed)
    first, second = back.value
    assert first is second and first.tolist() == shared.tolist()


def test_packed_jobs_and_results_cross_loky_workers():
    frames = [Frame(X=np.full((3, 1), float(i)), columns=["v"]) for i in range(4)]
    jobs = [(Packed(frames[:2]),), (Packed(frames[2:]),)]
    done = run_parallel(_pid_and_sum, jobs, n_jobs=2, backend="loky")
    assert [d.value[1] for d in done] == [3.0, 15.0]
    assert os.getpid() not in {d.value[0] for d in done}


def _note_pid(path: str) -> None:
    with open(path, "a") as fh:
        fh.write(f"{os.getpid()}\n")
    time.sleep(0.5)  # busy meanwhile, so each worker receives one of the payloads


class _NotesWhereUnpickled:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (_note_pid, (self.path,))


def test_started_workers_receive_the_payload_and_serve_the_next_call(tmp_path):
    notes = tmp_path / "pids"
    ready = start_workers("loky", 2, _NotesWhereUnpickled(str(notes)))
    ready()
    started = {int(line) for line in notes.read_text().split()}
    assert len(started) == 2 and os.getpid() not in started
    # quick jobs may all go to one worker; none goes to a worker started afresh
    used = set(run_parallel(os.getpid, [()] * 6, n_jobs=2, backend="loky"))
    assert used and used <= started


class _SlowToUnpickle:
    def __reduce__(self):
        return (time.sleep, (30.0,))


def test_an_interrupted_start_of_workers_is_stopped_and_its_thread_ends():
    ready = start_workers("loky", 2, _SlowToUnpickle())
    time.sleep(1.0)  # the workers are up and unpickling: the start-up call is waiting
    start = time.monotonic()
    stop_starting_workers(timeout=10)
    ready()  # its thread has ended: nothing to wait for
    assert time.monotonic() - start < 5  # not the 30 s the payload would take
    # the next call gets fresh workers
    assert len(run_parallel(os.getpid, [()] * 4, n_jobs=2, backend="loky")) == 4


def _noted(path: str) -> str:
    with open(path, "a") as fh:
        fh.write(f"{os.getpid()}\n")
    return path


class _NotesWhereUnpickledQuickly:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (_noted, (self.path,))


def _pid_of(_: object) -> int:
    return os.getpid()


def test_dask_jobs_are_unpickled_only_by_the_workers_that_run_them(tmp_path):
    notes = tmp_path / "pids"
    jobs = [(_NotesWhereUnpickledQuickly(str(notes)),) for _ in range(4)]
    ran = set(run_parallel(_pid_of, jobs, n_jobs=2, backend="dask-local"))
    unpickled = [int(line) for line in notes.read_text().split()]
    # the scheduler shares this process: it passes the jobs on without unpickling them
    assert os.getpid() not in unpickled and os.getpid() not in ran
    assert len(unpickled) == 4 and set(unpickled) == ran


def test_a_function_pickle_cannot_find_runs_on_dask(cluster):
    offset = 10
    out = run_parallel(lambda x: x + offset, [(1,), (2,)], backend="dask",
                       scheduler=cluster.scheduler_address)
    assert out == [11, 12]


def _pid_and_trim_setting() -> tuple[int, str | None]:
    return os.getpid(), os.environ.get("MALLOC_TRIM_THRESHOLD_")


def _gone(pids: set[int], timeout: float = 20.0) -> bool:
    psutil = pytest.importorskip("psutil")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(p) for p in pids):
            return True
        time.sleep(0.2)
    return False


def test_a_dask_local_cluster_started_ahead_serves_the_next_call_and_stops(tmp_path,
                                                                           monkeypatch):
    pytest.importorskip("distributed")
    import astraguard_train.parallel as parallel

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    notes = tmp_path / "pids"
    ready = start_workers("dask-local", 2, _NotesWhereUnpickled(str(notes)))
    ready()
    started = {int(line) for line in notes.read_text().split()}
    assert len(started) == 2 and os.getpid() not in started
    done = run_parallel(_pid_and_trim_setting, [()] * 6, n_jobs=2, backend="dask-local")
    assert {pid for pid, _ in done} <= started
    # the workers keep glibc's adaptive thresholds: no trim setting in their environment
    assert {setting for _, setting in done} == {None}
    assert parallel._ahead == []
    assert _gone(started)  # the call that used the cluster stopped it


def test_a_dask_local_cluster_no_call_used_is_stopped(tmp_path):
    pytest.importorskip("distributed")
    import astraguard_train.parallel as parallel

    notes = tmp_path / "pids"
    start_workers("dask-local", 2, _NotesWhereUnpickled(str(notes)))()
    started = {int(line) for line in notes.read_text().split()}
    release_started_workers()
    assert parallel._ahead == [] and _gone(started)


def test_a_run_that_fails_before_training_stops_the_cluster_it_started(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    import astraguard_train.parallel as parallel
    from astraguard_train.training.pipeline import Pipeline

    made = []

    def local_cluster(workers):
        made.append(local(workers))
        return made[-1]

    local = parallel._local_cluster
    monkeypatch.setattr(parallel, "_local_cluster", local_cluster)
    config = PipelineConfig.from_dict({
        "loader": {"name": "csv", "path": str(tmp_path / "missing.csv")},
        "train": {"group_by": "channel", "backend": "dask-local", "n_jobs": 2},
    })
    result = Pipeline(config).run(persist=False, raise_on_error=False)
    assert result.failed_stage == "load"
    assert parallel._ahead == []
    assert len(made) == 1 and made[0][0].status.name == "closed"


@pytest.mark.parametrize(("backend", "n_jobs"), [("loky", 1), ("threading", 2), ("dask", 2)])
def test_no_workers_are_started_for_one_worker_or_other_backends(backend, n_jobs):
    assert start_workers(backend, n_jobs, None)() is None


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_paused_restores_the_collector_as_it_was(enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
