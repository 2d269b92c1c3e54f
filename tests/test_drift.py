"""The training profile and drift checks (PSI and a two-sample KS test per feature)."""

from __future__ import annotations

import numpy as np
import pytest
from bundle_helpers import train

from astraguard_train import Frame, load_bundle
from astraguard_train.bundle.drift import DriftThresholds, check_drift, psi
from astraguard_train.bundle.profile import (
    EDGE_LEVELS,
    QUANTILES,
    bin_counts,
    bin_shares,
    feature_profile,
    profile_matrix,
    sample_rows,
    sorted_quantiles,
)
from astraguard_train.errors import DataError

COLUMNS = ("a", "b", "c")


def _data(rng, n, shift=0.0, scale=1.0):
    X = rng.normal(size=(n, 3))
    X[:, 1] = X[:, 1] * scale + shift
    return X


@pytest.fixture
def reference():
    rng = np.random.default_rng(0)
    X = _data(rng, 5000)
    return profile_matrix(X, COLUMNS), sample_rows(X, 2000, seed=1)


def test_feature_profile_matches_numpy():
    rng = np.random.default_rng(2)
    col = rng.gamma(2.0, size=1000)
    col[::10] = np.nan
    prof = feature_profile(col)
    finite = col[np.isfinite(col)]
    assert prof["count"] == 1000 and prof["missing_share"] == pytest.approx(0.1)
    assert prof["mean"] == pytest.approx(finite.mean())
    assert prof["std"] == pytest.approx(finite.std())
    assert list(prof["quantiles"]) == [f"{q:g}" for q in QUANTILES]
    assert prof["quantiles"]["0.9"] == pytest.approx(np.quantile(finite, 0.9))
    assert len(prof["bin_shares"]) == len(prof["bin_edges"]) + 1
    assert sum(prof["bin_shares"]) == pytest.approx(1.0)
    assert max(prof["bin_shares"]) < 0.15  # decile bins hold about a tenth each


def test_quantiles_and_bins_read_off_sorted_values_are_numpys():
    rng = np.random.default_rng(4)
    levels = np.array(QUANTILES + EDGE_LEVELS + (0.333, 0.999999))
    for n in (1, 2, 3, 10, 997):
        for values in (rng.normal(size=n) * 1e6, np.round(rng.normal(size=n), 1)):
            ordered = np.sort(values)
            assert np.array_equal(sorted_quantiles(ordered, levels), np.quantile(values, levels))
            edges = np.unique(np.quantile(values, EDGE_LEVELS))
            bisected = bin_shares(values, edges) * n
            assert np.array_equal(bin_counts(values, edges), np.round(bisected).astype(int))
    # a matrix profiles as its columns do, and is left as it was
    X = rng.gamma(2.0, size=(500, 3))
    X[::7, 1] = np.nan
    kept = X.copy()
    assert profile_matrix(X, COLUMNS) == {c: feature_profile(X[:, j])
                                          for j, c in enumerate(COLUMNS)}
    assert np.array_equal(X, kept, equal_nan=True)


def test_a_constant_or_empty_feature_still_profiles():
    # one edge at the constant: everything at or below it, nothing above (yet)
    assert feature_profile(np.full(10, 3.0))["bin_shares"] == [1.0, 0.0]
    empty = feature_profile(np.full(4, np.nan))
    assert empty["missing_share"] == 1.0 and empty["mean"] is None


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    even = np.full(10, 0.1)
    assert psi(even, even) == pytest.approx(0.0)
    skewed = np.array([0.3, 0.2] + [0.0625] * 8)
    assert psi(even, skewed) > 0.2
    assert psi(even, skewed) > psi(even, (even + skewed) / 2) > 0


def test_same_distribution_does_not_drift(reference):
    profile, sample = reference
    new = _data(np.random.default_rng(5), 4000)
    report = check_drift(profile, sample, [Frame(X=new, columns=COLUMNS)])
    assert report.drifted == []
    assert all(f.psi < 0.1 and f.ks_pvalue > 0.001 for f in report.features)


def test_a_shifted_feature_drifts_and_only_that_one(reference):
    profile, sample = reference
    new = _data(np.random.default_rng(6), 4000, shift=0.8)
    report = check_drift(profile, sample, [Frame(X=new, columns=COLUMNS)])
    assert report.drifted == ["b"]
    b = report.features[1]
    assert b.psi >= 0.2 and b.ks_statistic >= 0.1 and b.ks_pvalue < 0.01
    assert b.new_mean == pytest.approx(new[:, 1].mean())


def test_a_wider_spread_is_caught_by_psi(reference):
    profile, sample = reference
    new = _data(np.random.default_rng(7), 4000, scale=2.5)
    assert check_drift(profile, sample, [Frame(X=new, columns=COLUMNS)]).drifted == ["b"]


def test_chunks_give_the_same_bin_counts_as_one_frame(reference):
    profile, sample = reference
    new = _data(np.random.default_rng(8), 3000, shift=0.3)
    one = check_drift(profile, None, [Frame(X=new, columns=COLUMNS)])
    many = check_drift(profile, None, [Frame(X=new[i:i + 700], columns=COLUMNS)
                                       for i in range(0, 3000, 700)])
    assert [f.psi for f in one.features] == pytest.approx([f.psi for f in many.features])
    assert one.rows == many.rows == 3000


def test_more_missing_values_count_as_drift(reference):
    profile, sample = reference
    new = _data(np.random.default_rng(9), 2000)
    new[::5, 2] = np.nan
    report = check_drift(profile, sample, [Frame(X=new, columns=COLUMNS)])
    assert report.drifted == ["c"]
    assert "missing share" in report.features[2].reasons[0]


def test_thresholds_are_adjustable(reference):
    profile, sample = reference
    new = _data(np.random.default_rng(10), 4000, shift=0.8)
    lax = DriftThresholds(psi_threshold=50.0, ks_min_statistic=0.9)
    report = check_drift(profile, sample, [Frame(X=new, columns=COLUMNS)], thresholds=lax)
    assert report.drifted == []


def test_missing_features_and_empty_data_are_errors(reference):
    profile, sample = reference
    with pytest.raises(DataError, match="c.*the bundle"):
        check_drift(profile, sample, [Frame(X=np.zeros((3, 2)), columns=["a", "b"])])
    with pytest.raises(DataError, match="no rows"):
        check_drift(profile, sample, [])


def test_a_bundle_checks_drift_against_its_training_data(tmp_path):
    pipe = train(tmp_path)
    bundle = load_bundle(pipe.context.artifact, trusted=True)
    train_part = pipe.context.split.train
    assert bundle.drift(train_part).drifted == []
    moved = train_part.with_features(train_part.X + np.r_[[0.0] * 5, [10.0]], train_part.columns)
    report = bundle.drift(moved)
    assert report.drifted == [train_part.columns[-1]]
    assert report.to_dict()["features"][-1]["drifted"] is True
