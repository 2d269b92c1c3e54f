"""run_parallel over every backend, including a Dask cluster started by hand on loopback."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.errors import ConfigError
from astraguard_train.parallel import iter_parallel, run_parallel
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
