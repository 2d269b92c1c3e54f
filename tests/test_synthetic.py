"""The synthetic telemetry generator."""

from __future__ import annotations

import numpy as np
import pytest

from astraguard_train.data import synthetic
from astraguard_train.errors import ConfigError
from astraguard_train.timeseries.postprocess import runs


def test_same_seed_same_data_other_seed_other_data():
    a = synthetic.generate(n_samples=500, n_channels=2, seed=7)
    b = synthetic.generate(n_samples=500, n_channels=2, seed=7)
    c = synthetic.generate(n_samples=500, n_channels=2, seed=8)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.X, c.X)


def test_shape_columns_channels_and_timestamps():
    f = synthetic.generate(n_samples=400, n_channels=3, interval_seconds=2.0)
    assert f.n_rows == 1200 and f.columns == synthetic.COLUMNS
    assert sorted(set(f.channels.tolist())) == ["BUS-1", "BUS-2", "BUS-3"]
    step = np.diff(f.timestamps[:400]).astype("timedelta64[s]").astype(int)
    assert set(step.tolist()) == {2}


@pytest.mark.parametrize("kind", synthetic.ANOMALY_KINDS)
def test_each_kind_injects_labelled_events_that_move_the_data(kind):
    clean = synthetic.generate(n_samples=3000, n_channels=1, anomaly_share=0.0, seed=5)
    dirty = synthetic.generate(
        n_samples=3000, n_channels=1, anomaly_share=0.05, kinds=[kind], seed=5
    )
    assert clean.labels.sum() == 0
    share = dirty.labels.mean()
    assert 0.03 < share < 0.08
    starts, ends = runs(dirty.labels == 1)
    assert len(starts) >= 1
    # the normal rows are untouched; the labelled ones differ from the clean signal
    normal = dirty.labels == 0
    assert np.array_equal(clean.X[normal], dirty.X[normal])
    assert not np.allclose(clean.X[~normal], dirty.X[~normal])


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="unknown kind 'meteor'"):
        synthetic.generate(kinds=["meteor"])
    with pytest.raises(ConfigError, match="anomaly_share"):
        synthetic.generate(anomaly_share=0.9)
