"""The ``dynamic`` threshold: epsilon choice, floor, per-row rules, causality end to end."""

from __future__ import annotations

import numpy as np
import pytest

from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.errors import ConfigError
from astraguard_train.timeseries.dynamic_threshold import (
    DynamicRule,
    DynamicThreshold,
    choose_epsilons,
    z_grid,
)
from astraguard_train.training.detector import as_threshold, threshold_value
from astraguard_train.training.fit import ThresholdContext
from astraguard_train.training.pipeline import Pipeline


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return np.abs(np.random.default_rng(seed).normal(0.1, 0.02, n))


def test_epsilon_separates_a_clear_anomaly_from_the_rest():
    e = _noise(500)
    e[300:310] = 1.0
    eps, max_normal = choose_epsilons(e[None, :], z_grid(2.5, 12.0, 0.5))
    assert _noise(500)[:300].max() <= max_normal[0] < eps[0] < 1.0


def test_a_window_without_anomalies_keeps_its_largest_error_as_epsilon():
    # two values only: no z puts anything above mean + z * std without flagging half
    e = np.tile([0.1, 0.2], 100)
    eps, _ = choose_epsilons(e[None, :], z_grid(2.5, 12.0, 0.5))
    assert eps[0] == pytest.approx(0.2)


def test_constant_training_channel_gets_a_floor_not_zero():
    strategy = DynamicThreshold(window=100, step=10, min_threshold=0.05)
    rule = strategy.choose(ThresholdContext(train_scores=np.zeros(300)))
    assert rule.value == pytest.approx(0.05)
    tiny = np.full(200, 1e-4)
    frame = Frame(X=np.zeros((200, 1)), columns=["x"])
    assert not (tiny > rule.apply(tiny, frame)).any()
    assert threshold_value(rule) == pytest.approx(0.05)


def test_floor_follows_the_training_errors_when_asked():
    ctx = ThresholdContext(train_scores=np.linspace(0.0, 1.0, 101))
    rule = DynamicThreshold(floor_quantile=0.9, floor_factor=2.0, min_threshold=0.0).choose(ctx)
    assert rule.value == pytest.approx(1.8)


def test_bursts_in_the_stream_are_flagged_and_quiet_rows_are_not():
    strategy = DynamicThreshold(window=300, step=10)
    rule = strategy.choose(ThresholdContext(train_scores=_noise(600, 1)))
    stream = _noise(1000, 2)
    stream[700:740] = 0.9
    frame = Frame(X=np.zeros((1000, 1)), columns=["x"])
    flags = stream > rule.apply(stream, frame)
    assert flags[700:740].any()
    assert flags[:700].mean() < 0.01


def test_rule_applies_per_channel_and_is_causal():
    rule = DynamicThreshold(window=200, step=7).choose(
        ThresholdContext(train_scores=_noise(400, 3))
    )
    n = 600
    scores = np.concatenate([_noise(n, 4), _noise(n, 5) * 3])
    scores[n + 450 : n + 470] = 2.0
    ch = np.array(["a"] * n + ["b"] * n)
    ts = np.concatenate([np.arange(n), np.arange(n)]).astype("datetime64[s]")
    frame = Frame(X=np.zeros((2 * n, 1)), columns=["x"], channels=ch, timestamps=ts)
    full = rule.apply(scores, frame)
    early = ts < np.datetime64(333, "s")
    prefix = rule.apply(scores[early], frame.take(early))
    assert np.array_equal(prefix, full[early])
    # channel a's thresholds do not see channel b's burst
    alone = rule.apply(scores[:n], frame.take(slice(0, n)))
    assert np.array_equal(alone, full[:n])


def test_invalid_parameters_name_the_key():
    ctx = ThresholdContext(train_scores=_noise(50))
    with pytest.raises(ConfigError, match="threshold.window"):
        DynamicThreshold(window=0).choose(ctx)
    with pytest.raises(ConfigError, match="threshold.min_percent_decrease"):
        DynamicThreshold(min_percent_decrease=1.0).choose(ctx)
    with pytest.raises(ConfigError, match="z_min"):
        DynamicThreshold(z_min=5.0, z_max=3.0).choose(ctx)


def test_plain_float_thresholds_still_work():
    assert as_threshold(np.float64(0.5)) == 0.5
    rule = DynamicRule(np.zeros(3), 0.2, 10, 5, z_grid(2.5, 3.0, 0.5), 0.1)
    assert as_threshold(rule) is rule


def _synthetic_config(**postprocess) -> PipelineConfig:
    return PipelineConfig.from_dict(
        {
            "loader": {"name": "synthetic", "n_samples": 1200, "n_channels": 2},
            "split": {"strategy": "time", "test_size": 0.5},
            "train": {"group_by": "channel"},
            "scaler": {"name": "none"},
            "model": {"name": "forecast", "window": 10, "smoothing": 5},
            "threshold": {"name": "dynamic", "window": 150, "step": 10},
            "postprocess": postprocess,
        }
    )


def test_appending_future_rows_never_changes_earlier_scores_or_flags():
    pipeline = Pipeline(_synthetic_config(min_event_length=3, merge_gap=5, causal=True))
    pipeline.run(persist=False)
    detector = pipeline.detector
    test = pipeline.context.split.test
    first, last = test.timestamps.min(), test.timestamps.max()
    early = test.timestamps <= first + (last - first) // 2
    full = detector.score_frame(test)
    part = detector.score_frame(test.take(early))
    lookup = {i: k for k, i in enumerate(full.frame.index)}
    pick = np.array([lookup[i] for i in part.frame.index])
    assert np.allclose(part.scores, full.scores[pick])
    assert np.allclose(part.thresholds, full.thresholds[pick])
    assert np.array_equal(part.flags, full.flags[pick])
    assert full.flags.any() and not full.flags.all()


def test_run_result_reports_the_floor_as_the_threshold():
    result = Pipeline(_synthetic_config()).run(persist=False)
    assert result.threshold == pytest.approx(0.05)  # the default floor, every channel
    assert result.threshold_info["per_group"] == {"BUS-1": 0.05, "BUS-2": 0.05}


def test_padding_of_windows_not_yet_full_is_ignored():
    e = _noise(200)
    padded = np.concatenate([np.full(100, np.nan), e])
    z = z_grid(2.5, 12.0, 0.5)
    eps_padded, normal_padded = choose_epsilons(padded[None, :], z)
    eps, normal = choose_epsilons(e[None, :], z)
    assert eps_padded[0] == pytest.approx(eps[0])
    assert normal_padded[0] == pytest.approx(normal[0])
    empty, _ = choose_epsilons(np.full((1, 10), np.nan), z)
    assert np.isnan(empty[0])


def test_history_zero_judges_the_stream_on_its_own_errors():
    # noisy training errors would hide a modest burst in a quiet stream; without history the
    # stream's own quiet errors are the reference
    ctx = ThresholdContext(train_scores=np.abs(np.random.default_rng(0).normal(0, 1.0, 500)))
    stream = _noise(600, 6)
    stream[100:120] = 0.8
    frame = Frame(X=np.zeros((600, 1)), columns=["x"])
    primed = DynamicThreshold(window=300, step=10).choose(ctx)
    fresh = DynamicThreshold(window=300, step=10, history=0).choose(ctx)
    assert not (stream > primed.apply(stream, frame))[100:120].any()
    assert (stream > fresh.apply(stream, frame))[100:120].any()
    # with no reference at all, the first block gets the floor
    assert fresh.apply(stream, frame)[0] == pytest.approx(fresh.value)
    with pytest.raises(ConfigError, match="threshold.history"):
        DynamicThreshold(history=-1).choose(ctx)


def _epsilons_over_every_z(windows: np.ndarray, z_values: np.ndarray):
    """telemanom's choice scored on every z of the grid: what ``choose_epsilons``, scoring
    only the z that leave an error above them, must give bit for bit."""
    e = windows
    present = ~np.isnan(e)
    n = present.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(present, e, 0.0).sum(axis=1, keepdims=True) / n
        std = np.sqrt(np.where(present, (e - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / n)
        eps = mean[:, :, None] + std[:, :, None] * z_values[None, None, :]
        below = e[:, :, None] <= eps
        above = present[:, :, None] & ~below
        n_below, n_above = below.sum(axis=1), above.sum(axis=1)
        safe = np.maximum(n_below, 1)
        m_below = np.where(below, e[:, :, None], 0.0).sum(axis=1) / safe
        s_below = np.sqrt(
            np.where(below, (e[:, :, None] - m_below[:, None, :]) ** 2, 0.0).sum(axis=1) / safe)
        starts = above[:, 0, :].astype(np.int64) + (above[:, 1:, :] & ~above[:, :-1, :]).sum(
            axis=1)
        score = ((mean - m_below) / mean + (std - s_below) / std) / (n_above + starts**2)
    valid = (n_above > 0) & np.isfinite(score) & (n_above < n / 2)
    best = np.argmax(np.where(valid, score, -np.inf), axis=1)
    largest = np.where(present, e, -np.inf).max(axis=1)
    epsilon = np.where(valid.any(axis=1), mean[:, 0] + z_values[best] * std[:, 0], largest)
    max_normal = np.where(e <= epsilon[:, None], e, -np.inf).max(axis=1)
    empty = n[:, 0] == 0
    epsilon[empty] = np.nan
    return epsilon, np.where(empty, np.nan, np.maximum(max_normal, 0.0))


@pytest.mark.parametrize("width", [5, 30, 300])
@pytest.mark.parametrize("grid", [(2.5, 12.0, 0.5), (0.5, 3.0, 0.25), (1.0, 1.0, 0.5)])
def test_epsilons_scored_on_the_z_that_reach_an_error_are_those_of_every_z(width, grid):
    rng = np.random.default_rng(width)
    z_values = z_grid(*grid)
    quiet = np.abs(rng.normal(0.1, 0.02, (40, width)))
    spiky = np.abs(rng.normal(0, 1, (40, width)))
    spiky[np.arange(40), rng.integers(0, width, 40)] += rng.uniform(0, 40, 40)  # one z..all
    heavy = np.abs(rng.standard_cauchy((40, width)))
    coarse = np.round(np.abs(rng.normal(0, 1, (40, width))), 1)  # ties at epsilon
    flat = np.full((4, width), 0.3)
    windows = np.concatenate([quiet, spiky, heavy, coarse, flat])
    for i, pad in enumerate(rng.integers(0, width + 1, len(windows))):
        if i % 3 == 0:
            windows[i, :pad] = np.nan  # not yet full, some empty
    windows[-1] = np.nan
    got = choose_epsilons(windows, z_values)
    want = _epsilons_over_every_z(windows, z_values)
    assert got[0].tobytes() == want[0].tobytes() and got[1].tobytes() == want[1].tobytes()
    empty = np.isnan(windows).all(axis=1)
    assert np.isnan(got[0]).tolist() == empty.tolist()
    largest = np.nanmax(windows[~empty], axis=1)
    if width > 5 and grid != (1.0, 1.0, 0.5):  # both kinds: an anomaly, and none
        assert (got[0][~empty] < largest).any() and (got[0][~empty] == largest).any()
