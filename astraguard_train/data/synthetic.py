"""A seeded generator of multichannel spacecraft telemetry with labelled injected anomalies.

Each channel is one spacecraft bus sampled every ``interval_seconds``: voltage, temperature,
gyro rates on three axes and current, following an orbit (sunlit and eclipse phases) with
sensor noise. Anomaly events of several kinds are injected at random places and labelled 1:

- ``spike``: a short, large excursion on one or two sensors;
- ``level_shift``: a step change that holds for the event;
- ``drift``: a ramp away from normal (a slowly failing regulator or heater);
- ``stuck``: a sensor frozen at one value while the others move, with noise gone;
- ``noise_burst``: a burst of high-variance noise (a loose connector, radiation hit).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from .frame import Frame

COLUMNS = ("voltage", "temperature", "gyro_x", "gyro_y", "gyro_z", "current")
ANOMALY_KINDS = ("spike", "level_shift", "drift", "stuck", "noise_burst")


def generate(
    n_samples: int = 6000,
    n_channels: int = 3,
    anomaly_share: float = 0.04,
    kinds: Sequence[str] = ANOMALY_KINDS,
    seed: int = 42,
    start: str = "2026-01-01T00:00:00",
    interval_seconds: float = 1.0,
    orbit_samples: int = 1500,
) -> Frame:
    """Return a :class:`Frame` of ``n_samples`` rows per channel with labels and timestamps.

    :param anomaly_share: the target share of rows inside an anomaly event.
    :param kinds: which anomaly kinds to inject (see the module docstring).
    :raises ConfigError: for parameters out of range or an unknown anomaly kind.
    """
    if n_samples < 10 or n_channels < 1:
        raise ConfigError("synthetic: n_samples must be >= 10 and n_channels >= 1")
    if not 0.0 <= anomaly_share < 0.5:
        raise ConfigError(f"synthetic.anomaly_share: must be in [0, 0.5), got {anomaly_share}")
    unknown = sorted(set(kinds) - set(ANOMALY_KINDS))
    if unknown:
        raise ConfigError(
            f"synthetic.kinds: unknown kind '{unknown[0]}'; available: {', '.join(ANOMALY_KINDS)}"
        )
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples, dtype=np.float64)
    blocks, labels = [], []
    for c in range(n_channels):
        X = _normal_block(t, orbit_samples, rng, c)
        y = np.zeros(n_samples, dtype=np.int8)
        _inject(X, y, rng, anomaly_share, list(kinds))
        blocks.append(X)
        labels.append(y)
    return _buses(blocks, labels, start, interval_seconds, "<synthetic>")


def _buses(blocks: list[np.ndarray], labels: list[np.ndarray], start: str,
           interval_seconds: float, source: str) -> Frame:
    """One frame of the channels ``BUS-1``... in long format, each sampled from ``start``."""
    n = blocks[0].shape[0]
    step = np.timedelta64(int(round(interval_seconds * 1e9)), "ns")
    ts = np.datetime64(start, "ns") + np.arange(n) * step
    return Frame(
        X=np.concatenate(blocks),
        columns=COLUMNS,
        timestamps=np.tile(ts, len(blocks)),
        labels=np.concatenate(labels),
        channels=np.repeat(np.array([f"BUS-{c + 1}" for c in range(len(blocks))]), n),
        source=source,
    )


def _normal_block(t: np.ndarray, orbit: int, rng: np.random.Generator, c: int) -> np.ndarray:
    phase = 2 * np.pi * (t / orbit + rng.uniform())
    sunlit = (np.sin(phase) > -0.3).astype(np.float64)
    n = len(t)
    voltage = 28.0 + 0.6 * sunlit + 0.05 * np.sin(phase) + rng.normal(0, 0.08, n)
    temperature = 20.0 + 8.0 * np.sin(phase) + 0.5 * c + rng.normal(0, 0.3, n)
    gyro = rng.normal(0, 0.02, (n, 3)) + 0.01 * np.sin(phase)[:, None]
    current = 1.5 + 0.8 * sunlit + rng.normal(0, 0.05, n)
    return np.column_stack([voltage, temperature, gyro, current])


def _inject(
    X: np.ndarray, y: np.ndarray, rng: np.random.Generator, share: float, kinds: list[str],
    lengths: tuple[int, int] = (10, 60),
) -> None:
    """Inject events until ``share`` of the rows are anomalous; events other than spikes
    last ``lengths`` rows (low inclusive, high exclusive)."""
    n = len(y)
    target = int(share * n)
    scale = X.std(axis=0)
    attempts = 0
    while y.sum() < target and kinds and attempts < 10_000:
        attempts += 1
        kind = kinds[int(rng.integers(len(kinds)))]
        length = int(rng.integers(1, 4)) if kind == "spike" else int(rng.integers(*lengths))
        start = int(rng.integers(50, n - length - 1))
        if y[max(0, start - 20) : start + length + 20].any():
            continue  # keep events apart so each stays one event
        sl = slice(start, start + length)
        cols = rng.choice(X.shape[1], size=int(rng.integers(1, 3)), replace=False)
        sign = rng.choice([-1.0, 1.0])
        if kind == "spike":
            X[sl, cols] += sign * rng.uniform(6, 10) * scale[cols]
        elif kind == "level_shift":
            X[sl, cols] += sign * rng.uniform(3, 5) * scale[cols]
        elif kind == "drift":
            ramp = np.linspace(0.5, rng.uniform(4, 6), length)[:, None]
            X[sl, cols] += sign * ramp * scale[cols]
        elif kind == "stuck":
            X[sl, cols] = X[start, cols] + sign * 3.0 * scale[cols]
        else:  # noise_burst
            X[sl, cols] += rng.normal(0, 4.0, (length, len(cols))) * scale[cols]
        y[sl] = 1


def mission_orbit_rows(rows_per_day: int) -> int:
    """Rows per orbit in :func:`mission`: 16 orbits a day (a low Earth orbit of 90 minutes),
    at least 10 rows each."""
    return max(rows_per_day // 16, 10)


def mission(
    days: int = 30,
    rows_per_day: int = 1440,
    n_channels: int = 4,
    shift_day: int = 10,
    mode_day: int = 18,
    ageing: float = 2.0,
    shift_size: float = 4.0,
    anomaly_share: float = 0.04,
    seed: int = 7,
) -> Frame:
    """A mission whose normal behaviour changes, for retraining experiments.

    ``rows_per_day`` rows per channel per day (one a minute by default), generated as
    :func:`generate` does, then changed the way spacecraft telemetry changes:

    - from ``shift_day``, a level change: half the channels' voltage and current step up by
      ``shift_size`` of their standard deviations (a bus reconfigured); a detector left alone
      floods its operators;
    - from ``mode_day``, a quieter operating mode on every channel (wheels spun down): the
      gyros four times quieter and the temperature swing halved; a detector left alone misses
      what is now abnormal;
    - all along, slow ageing: the temperature creeps up by ``ageing`` standard deviations
      over the mission.

    Short anomaly events (3 to 15 rows) are injected into each period apart, sized against
    that period's own spread: an anomaly is abnormal for the behaviour of its time.
    """
    if days < 2 or not 0 < shift_day < days or not 0 < mode_day <= days:
        raise ConfigError("mission: needs days >= 2 and 0 < shift_day < days, 0 < mode_day <= days")
    rng = np.random.default_rng(seed)
    n = days * rows_per_day
    t = np.arange(n, dtype=np.float64)
    shift, mode = shift_day * rows_per_day, mode_day * rows_per_day
    cuts = sorted({0, shift, mode, n})
    blocks, labels = [], []
    for c in range(n_channels):
        X = _normal_block(t, mission_orbit_rows(rows_per_day), rng, c)
        sd = X.std(axis=0)
        if c % 2 == 0:
            X[shift:, [0, 5]] += shift_size * sd[[0, 5]]
        if mode < n:
            centre = X[mode:, 2:5].mean(axis=0)
            X[mode:, 2:5] = centre + 0.25 * (X[mode:, 2:5] - centre)
            X[mode:, 1] = X[mode:, 1].mean() + 0.5 * (X[mode:, 1] - X[mode:, 1].mean())
        X[:, 1] += np.linspace(0.0, ageing * sd[1], n)
        y = np.zeros(n, dtype=np.int8)
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            if hi - lo > 120:  # room for an event away from the period's edges
                _inject(X[lo:hi], y[lo:hi], rng, anomaly_share, list(ANOMALY_KINDS),
                        lengths=(3, 15))
        blocks.append(X)
        labels.append(y)
    return _buses(blocks, labels, "2026-01-01T00:00:00", 86400 / rows_per_day, "<mission>")
