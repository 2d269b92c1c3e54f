"""The neural detectors of plugins/astraguard-train-torch, on a CPU and on tiny data: the
same conformance checks as every detector, chunked scoring equal to whole scoring on the
flagship channel pipeline, weights in the bundle as a checksummed tensor file that loads
without running code, and a GPU-trained bundle scoring on a machine without one."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "astraguard_train_torch",
    reason="the torch plugin is not installed: pip install torch==2.13.0 and "
    "-e plugins/astraguard-train-torch (.ci/run does)",
)

import torch  # noqa: E402  (after the skip: torch comes with the plugin)
from astraguard_train_torch import LSTMForecast, WindowAutoencoder, devices  # noqa: E402
from bundle_helpers import CSV_OPTIONS, frame_to_csv  # noqa: E402

from astraguard_train import Frame, load_bundle  # noqa: E402
from astraguard_train.bundle.store import write_bundle  # noqa: E402
from astraguard_train.config import PipelineConfig  # noqa: E402
from astraguard_train.errors import ConfigError, IntegrityError  # noqa: E402
from astraguard_train.testing import check_detector, check_streaming  # noqa: E402
from astraguard_train.training.pipeline import Pipeline  # noqa: E402
from astraguard_train.training.scored import join_scored  # noqa: E402
from astraguard_train.training.streaming import Scorer  # noqa: E402

TINY_LSTM = {"window": 8, "n_predictions": 3, "units": [8, 8], "epochs": 1, "smoothing": 5,
             "device": "cpu", "predict_batch": 16}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a shared, loaded machine the threads of a tiny network's
    operations mostly wait for each other (tens of times slower with two)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- the contract --------------------------------------------------------------------------------


@pytest.mark.parametrize("factory, params", [
    (LSTMForecast, LSTMForecast.get_test_params()),
    (LSTMForecast, {**LSTMForecast.get_test_params(), "exogenous": ["x1"], "smoothing": 3}),
    (WindowAutoencoder, WindowAutoencoder.get_test_params()),
    (WindowAutoencoder, {**WindowAutoencoder.get_test_params(), "architecture": "conv",
                         "units": [4, 2], "window": 6, "kernel": 3}),
])
def test_the_neural_detectors_keep_the_detector_contract(factory, params):
    check_detector(factory, params)
    check_streaming(factory, params)


def test_the_detectors_come_from_the_plugin_distribution(registry):
    for name, cls in (("lstm_forecast", LSTMForecast), ("window_autoencoder", WindowAutoencoder)):
        entry = registry.get("model", name)
        assert entry.factory is cls
        assert entry.distribution == "astraguard-train-torch"
        assert entry.version == md.version("astraguard-train-torch")


def test_the_cli_lists_the_neural_detectors():
    out = subprocess.run(
        [sys.executable, "-m", "astraguard_train.cli", "plugins", "--json"],
        capture_output=True, text=True, check=True, env={**os.environ},
    )
    assert {"lstm_forecast", "window_autoencoder"} <= set(out.stdout.replace('"', " ").split())


def test_a_seeded_fit_on_the_cpu_gives_the_same_bits_and_another_seed_does_not():
    X = np.random.default_rng(0).normal(size=(150, 2)).cumsum(axis=0)
    scores = [LSTMForecast(**TINY_LSTM, random_state=s).fit(X).score_samples(X) for s in (1, 1, 2)]
    np.testing.assert_array_equal(scores[0], scores[1])
    assert not np.array_equal(scores[0], scores[2])


def test_early_stopping_watches_the_training_tail_and_keeps_the_best_epoch():
    X = np.random.default_rng(0).normal(size=(200, 1))
    model = LSTMForecast(**{**TINY_LSTM, "epochs": 20, "patience": 2, "min_delta": 1e9}).fit(X)
    assert model.training_.epochs == 3  # epoch 1 is best: nothing improves by 1e9
    assert model.training_.best_epoch == 1
    unwatched = LSTMForecast(**{**TINY_LSTM, "epochs": 3, "validation_split": 0.0}).fit(X)
    assert unwatched.training_.epochs == 3 and unwatched.training_.best_loss is None


def test_the_forecaster_is_trained_on_n_predictions_values_and_scored_on_the_first():
    X = np.random.default_rng(0).normal(size=(60, 2))
    model = LSTMForecast(**TINY_LSTM).fit(X)
    assert model.network_.head.out_features == 3
    with torch.no_grad():
        windows = torch.as_tensor(X[10:18, :1][None], dtype=torch.float32)
        first = float(model.network_(windows)[0, 0])
    raw = LSTMForecast(**{**TINY_LSTM, "smoothing": 1}).fit(X).score_samples(X)
    assert raw[18] == pytest.approx(abs(X[18, 0] - first), rel=1e-5)


# -- devices ---------------------------------------------------------------------------------


def test_auto_picks_cuda_only_when_torch_sees_it(monkeypatch):
    assert devices.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto").type == "cpu"
    with pytest.raises(ConfigError, match="model.device: 'cuda' asked for"):
        devices.resolve_device("cuda")
    assert devices.resolve_device("cuda", loading=True).type == "cpu"
    with pytest.raises(ConfigError, match="model.device: unknown device 'tpu'"):
        devices.resolve_device("tpu")
    with pytest.raises(ConfigError, match="model.device"):
        LSTMForecast(**{**TINY_LSTM, "device": "cuda"}).fit(np.zeros((40, 1)))


def test_auto_batches_fill_a_gpu_and_stay_modest_on_a_cpu(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert devices.batch_rows("auto", cpu, 10**6) == devices.CPU_BATCH
    assert devices.batch_rows(70, gpu, 10**6) == 70
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (8 * 2**30, 16 * 2**30))
    rows = devices.batch_rows("auto", gpu, 10**6)
    assert rows * 10**6 <= 8 * 2**30 * devices.GPU_FILL < rows * 2 * 10**6
    assert devices.batch_rows("auto", gpu, 10) == devices.GPU_MAX_BATCH
    with pytest.raises(ConfigError, match="model.batch_size"):
        devices.batch_rows(0, cpu, 1)


def test_mixed_precision_is_for_gpus_only():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert not isinstance(devices.autocast(cpu, True), torch.autocast)
    assert not isinstance(devices.autocast(gpu, False), torch.autocast)
    with warnings.catch_warnings():  # torch warns that this machine has no CUDA to cast on
        warnings.simplefilter("ignore", UserWarning)
        on_gpu = devices.autocast(gpu, True)
    assert isinstance(on_gpu, torch.autocast) and on_gpu.fast_dtype == torch.float16


# -- the flagship channel pipeline: lstm_forecast + dynamic + post-processing ------------------


@pytest.fixture(scope="module")
def flagship(tmp_path_factory):
    config = PipelineConfig.from_dict({
        "loader": {"name": "synthetic", "n_samples": 600, "n_channels": 2, "seed": 3},
        "split": {"strategy": "time", "test_size": 0.5},
        "train": {"group_by": "channel", "n_jobs": 1},
        "scaler": {"name": "zscore"},
        "model": {"name": "lstm_forecast", **TINY_LSTM, "epochs": 2, "learning_rate": 0.01},
        "threshold": {"name": "dynamic", "window": 40, "step": 7, "min_threshold": 0.0},
        "postprocess": {"merge_gap": 4, "min_event_length": 2},
    })
    pipe = Pipeline(config)
    pipe.run(output=str(tmp_path_factory.mktemp("flagship")))
    return pipe, load_bundle(pipe.context.artifact, trusted=True)


@pytest.mark.parametrize("edges", [(1, 2, 3, 150), (7,), (31, 5), (120, 1)])
def test_the_flagship_pipeline_scores_in_chunks_as_whole(flagship, edges, tmp_path):
    pipe, bundle = flagship
    test = pipe.context.split.test
    expected = pipe.context.test_scores
    assert expected.flags.any()  # alarms to hold back and merge
    cuts, at, k = [0], 0, 0
    while at < test.n_rows:
        at = min(at + edges[k % len(edges)], test.n_rows)
        cuts.append(at)
        k += 1
    scorer, parts = Scorer(bundle.detector, "test"), []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        parts.append(scorer.score(test.take(slice(lo, hi))))
        scorer = Scorer.load(scorer.save(tmp_path / "state.npz"), bundle.detector, "test")
    got = join_scored([*parts, scorer.flush()])
    for field in ("scores", "thresholds", "flags"):
        np.testing.assert_array_equal(getattr(got, field), getattr(expected, field))
    np.testing.assert_array_equal(got.frame.index, expected.frame.index)


def test_the_bundle_keeps_weights_as_checksummed_tensor_files(flagship, tmp_path):
    _, bundle = flagship
    manifest = bundle.manifest
    assert sorted(manifest["weights"]) == ["weights-0.pt", "weights-1.pt"]
    for name, number in manifest["weights"].items():
        assert name in manifest["files"]
        state = torch.load(bundle.path / name, weights_only=True)
        chain = list(bundle.detector.chains.values())[number]
        assert set(state) == set(chain.model.network_.state_dict())
    shutil.copytree(bundle.path, tmp_path / "1")
    weights = tmp_path / "1" / "weights-0.pt"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 1
    weights.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="weights-0.pt: SHA-256 does not match"):
        load_bundle(tmp_path / "1", trusted=True)


def test_the_pickled_detector_holds_no_network(flagship):
    import joblib

    _, bundle = flagship
    raw = joblib.load(bundle.path / bundle.manifest["detector_file"])
    assert all(chain.model.network_ is None for chain in raw.chains.values())


def test_loading_weights_runs_no_code(tmp_path):
    model = LSTMForecast(**TINY_LSTM).fit(np.zeros((40, 1)))
    torch.save({"payload": Path("/")}, tmp_path / "evil.pt")  # not tensors: refused
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        model.without_weights().load_weights(tmp_path / "evil.pt")


def test_a_bundle_trained_on_a_gpu_scores_on_a_machine_without_one(flagship, tmp_path,
                                                                    monkeypatch):
    pipe, _ = flagship
    # The run was on the CPU; its models are made to say they were trained on CUDA and to
    # ask for it, as a bundle written on a GPU machine does.
    for chain in pipe.context.detector.chains.values():
        chain.model.set_params(device="cuda")
        chain.model.device_ = "cuda"
    path = write_bundle(pipe.context, tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    bundle = load_bundle(path, trusted=True)
    assert [(c["map_location"], c["weights_only"]) for c in calls] == [("cpu", True)] * 2
    for chain in bundle.detector.chains.values():
        assert chain.model.device_ == "cuda"
        assert next(chain.model.network_.parameters()).device.type == "cpu"
    test = pipe.context.split.test
    scored = bundle.score(frame_to_csv(test, tmp_path / "test.csv"), **CSV_OPTIONS)
    np.testing.assert_allclose(scored.scores, pipe.context.test_scores.scores, rtol=1e-6)


def test_the_window_autoencoder_runs_in_a_pipeline_over_correlated_sensors(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(600)
    base = np.sin(t / 10.0)
    X = np.column_stack([base, 2 * base, -base]) + rng.normal(scale=0.05, size=(600, 3))
    X[500:510, 1] = -2 * base[500:510]  # each sensor in range; their relation broken
    labels = (t >= 500) & (t < 510)
    frame = Frame(X=X, columns=["a", "b", "c"], labels=labels.astype(np.int8),
                  timestamps=np.datetime64("2026-01-01", "ns") + t * np.timedelta64(1, "s"))
    config = PipelineConfig.from_dict({
        "loader": {"name": "synthetic"},
        "split": {"strategy": "time", "test_size": 0.3},
        "scaler": {"name": "zscore"},
        "model": {"name": "window_autoencoder", "window": 8, "units": [8, 2], "epochs": 10,
                  "learning_rate": 0.01,
                  "device": "cpu"},
        "threshold": {"name": "contamination", "contamination": 0.02},
    })
    result = Pipeline(config).run(data=frame, output=str(tmp_path))
    assert result.ok
    assert result.metrics["roc_auc"] > 0.9
    bundle = load_bundle(Path(result.artifact), trusted=True)
    assert list(bundle.manifest["weights"]) == ["weights-0.pt"]
    assert json.loads((Path(result.artifact) / "manifest.json").read_text())["weights"]
