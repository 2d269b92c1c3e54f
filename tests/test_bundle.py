"""Model bundles: manifest contents, versioned atomic writes, verification before loading."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import attrs
import numpy as np
import pytest
from bundle_helpers import rewrite_manifest, small_config, train

from astraguard_train import PipelineConfig, load_bundle
from astraguard_train.bundle.persisters import SkopsPersister
from astraguard_train.bundle.profile import fingerprint
from astraguard_train.bundle.store import (
    LATEST,
    list_bundles,
    read_manifest,
    resolve,
    sha256_file,
    stale_writes,
    verify,
    versions,
)
from astraguard_train.errors import (
    BundleError,
    BundleFormatError,
    BundlePluginError,
    IntegrityError,
    LibraryVersionWarning,
    UntrustedTypeError,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One trained pipeline and its bundle, shared read-only; tests copy before altering."""
    out = tmp_path_factory.mktemp("bundles")
    return train(out)


@pytest.fixture
def bundle_copy(trained, tmp_path):
    """A private copy of the shared bundle's version directory."""
    dest = tmp_path / "copy"
    shutil.copytree(trained.context.artifact, dest)
    return dest


# -- manifest -------------------------------------------------------------------------------


def test_manifest_records_what_produced_the_bundle(trained):
    ctx = trained.context
    path = Path(ctx.artifact)
    manifest = verify(path)
    assert manifest["format_version"] == 1
    assert manifest["astraguard_train_version"]
    assert manifest["python"].count(".") == 2
    libs = manifest["libraries"]
    assert {"numpy", "scikit-learn", "joblib"} <= set(libs) and "pyod" not in libs
    assert libs["numpy"] == np.__version__
    assert manifest["config"] == json.loads(json.dumps(ctx.config.to_dict()))
    model = manifest["plugins"]["model"]
    assert model["name"] == "iforest" and model["distribution"] == "astraguard-train"
    assert set(manifest["plugins"]) >= {"loader", "scaler", "model", "threshold", "persist"}
    assert manifest["input_features"] == list(ctx.detector.input_columns)
    assert manifest["output_features"] == list(ctx.detector.output_columns)
    train_X = ctx.split.train.X
    assert manifest["training_data"] == fingerprint(train_X)
    assert manifest["training_data"]["rows"] == ctx.split.train.n_rows
    assert manifest["threshold"] == pytest.approx(ctx.detector.threshold)
    assert manifest["threshold_info"]["method"] == "contamination"
    assert manifest["metrics"]["roc_auc"] == pytest.approx(ctx.metrics["roc_auc"])


def test_manifest_profile_describes_each_training_feature(trained):
    ctx = trained.context
    manifest = read_manifest(ctx.artifact)
    X = ctx.split.train.X
    assert list(manifest["profile"]) == list(ctx.detector.input_columns)
    for j, name in enumerate(ctx.detector.input_columns):
        prof = manifest["profile"][name]
        assert prof["mean"] == pytest.approx(X[:, j].mean())
        assert prof["std"] == pytest.approx(X[:, j].std())
        assert prof["quantiles"]["0.5"] == pytest.approx(np.median(X[:, j]))
        assert prof["missing_share"] == 0.0
        assert sum(prof["bin_shares"]) == pytest.approx(1.0)


def test_manifest_lists_the_sha256_of_every_other_file(trained):
    path = Path(trained.context.artifact)
    manifest = read_manifest(path)
    others = {p.name for p in path.iterdir()} - {"manifest.json", "manifest.sha256"}
    assert set(manifest["files"]) == others and len(others) >= 2
    for name, digest in manifest["files"].items():
        assert sha256_file(path / name) == digest


def test_the_bundle_leaves_out_the_training_scores_it_scores_the_same_without(trained):
    run_chain = trained.detector.chains[None]
    assert run_chain.train_scores_ is not None  # the run's detector keeps them for thresholds
    loaded = load_bundle(trained.context.artifact, trusted=True)
    assert loaded.detector.chains[None].train_scores_ is None
    test = trained.context.split.test
    assert np.array_equal(
        loaded.detector.score_frame(test).scores, trained.detector.score_frame(test).scores
    )


def test_a_fingerprint_changes_with_any_value():
    X = np.arange(12.0).reshape(4, 3)
    Y = X.copy()
    Y[2, 1] += 1e-9
    assert fingerprint(X)["sha256"] != fingerprint(Y)["sha256"]
    assert fingerprint(np.asfortranarray(X)) == fingerprint(X)


# -- versions -------------------------------------------------------------------------------


def _other_seed() -> PipelineConfig:
    return small_config(model={"name": "iforest", "n_estimators": 25, "random_state": 1})


def test_each_run_adds_a_version_and_moves_latest(tmp_path):
    first = train(tmp_path).context.artifact
    second = train(tmp_path, _other_seed()).context.artifact
    root = tmp_path / "detector"
    assert (Path(first).name, Path(second).name) == ("1", "2")
    assert (root / LATEST).read_text().strip() == "2"
    assert versions(root) == [1, 2]
    assert resolve(root) == root / "2"
    assert load_bundle(root, trusted=True).path == root / "2"
    assert load_bundle(root / "1", trusted=True).path == root / "1"
    with pytest.raises(BundleError, match="holds bundle.s. detector: pass"):
        load_bundle(tmp_path)


def test_an_existing_version_is_never_overwritten(tmp_path):
    root = tmp_path / "detector"
    (root / "1").mkdir(parents=True)
    (root / "1" / "keep.txt").write_text("someone else's")
    artifact = train(tmp_path).context.artifact
    assert Path(artifact).name == "2"
    assert (root / "1" / "keep.txt").read_text() == "someone else's"


def test_concurrent_writers_get_distinct_versions(trained, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from astraguard_train.bundle.store import write_bundle

    ctx = trained.context
    copies = ctx.config.evolve(persist=attrs.evolve(ctx.config.persist, allow_duplicate=True))
    ctx = attrs.evolve(ctx, config=copies)
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: write_bundle(ctx, tmp_path), range(4)))
    assert sorted(p.name for p in paths) == ["1", "2", "3", "4"]
    root = tmp_path / "detector"
    assert versions(root) == [1, 2, 3, 4] and (root / LATEST).read_text().strip() == "4"
    assert all(verify(p)["files"] for p in paths)


@pytest.mark.parametrize("name", ["a/b", ".hidden", "7", ""])
def test_bundle_names_must_be_plain_directory_names(trained, tmp_path, name):
    from astraguard_train.bundle.store import write_bundle

    ctx = trained.context
    bad = ctx.config.evolve(persist=attrs.evolve(ctx.config.persist, bundle_name=name))
    with pytest.raises(BundleError, match="persist.bundle_name"):
        write_bundle(attrs.evolve(ctx, config=bad), tmp_path)


def test_models_listing_shows_versions_with_metrics(tmp_path):
    train(tmp_path)
    train(tmp_path, _other_seed())
    infos = list_bundles(tmp_path)
    assert [(i.name, i.version, i.latest) for i in infos] == [
        ("detector", 1, False),
        ("detector", 2, True),
    ]
    assert all("roc_auc" in i.metrics and i.model == "iforest" for i in infos)
    assert [i.version for i in list_bundles(tmp_path / "detector")] == [1, 2]


# -- verification ---------------------------------------------------------------------------


def _flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", [0, 1 / 3, 0.5, 0.97, -1])
def test_flipping_one_byte_in_any_file_fails_loading_and_names_the_file(trained, tmp_path, where):
    source = Path(trained.context.artifact)
    names = sorted(p.name for p in source.iterdir())
    assert {"manifest.json", "manifest.sha256"} <= set(names)
    for name in names:
        copy = tmp_path / f"{name}-{where}"
        shutil.copytree(source, copy)
        size = (copy / name).stat().st_size
        _flip(copy / name, int(where * size) if where != -1 else size - 1)
        with pytest.raises(IntegrityError) as info:
            load_bundle(copy)
        assert name in str(info.value), (name, str(info.value))


def test_a_missing_or_unlisted_file_is_named(bundle_copy):
    (bundle_copy / "notes.txt").write_text("added later")
    with pytest.raises(IntegrityError, match="notes.txt"):
        verify(bundle_copy)
    (bundle_copy / "notes.txt").unlink()
    (bundle_copy / "profile_sample.npy").unlink()
    with pytest.raises(IntegrityError, match="profile_sample.npy.*missing"):
        verify(bundle_copy)


def test_a_manifest_without_its_digest_is_refused(bundle_copy):
    (bundle_copy / "manifest.sha256").unlink()
    with pytest.raises(IntegrityError, match="manifest.sha256"):
        load_bundle(bundle_copy)


def test_a_resealed_manifest_must_still_have_every_key(bundle_copy):
    rewrite_manifest(bundle_copy, lambda m: m.pop("files"))
    with pytest.raises(IntegrityError, match="'files'"):
        load_bundle(bundle_copy)


def test_a_newer_bundle_format_is_refused(bundle_copy):
    rewrite_manifest(bundle_copy, lambda m: m.update(format_version=99))
    with pytest.raises(BundleFormatError, match="format 99 is newer"):
        load_bundle(bundle_copy)


def test_library_version_drift_warns_but_loads(bundle_copy):
    rewrite_manifest(bundle_copy, lambda m: m["libraries"].update({"scikit-learn": "0.1.0"}))
    with pytest.warns(LibraryVersionWarning, match="scikit-learn 0.1.0 when written"):
        loaded = load_bundle(bundle_copy, trusted=True)
    assert loaded.detector is not None


def test_no_warning_when_versions_match(trained):
    with warnings.catch_warnings():
        warnings.simplefilter("error", LibraryVersionWarning)
        load_bundle(trained.context.artifact, trusted=True)


def test_a_missing_plugin_names_the_distribution_to_install(bundle_copy):
    def needs_plugin(m):
        model = m["plugins"]["model"]
        model.update(name="deep_lstm", distribution="astraguard-deep", version="2.1")

    rewrite_manifest(bundle_copy, needs_plugin)
    with pytest.raises(BundlePluginError) as info:
        load_bundle(bundle_copy)
    assert "deep_lstm" in str(info.value)
    assert "pip install 'astraguard-deep==2.1'" in str(info.value)


def test_paths_that_are_not_bundles_are_refused(tmp_path):
    with pytest.raises(BundleError, match="no such bundle"):
        load_bundle(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="not a bundle"):
        load_bundle(tmp_path / "empty")


# -- persisters -----------------------------------------------------------------------------


def test_skops_bundle_scores_like_the_run(tmp_path):
    pipe = train(tmp_path, small_config(persist={"name": "skops"}))
    ctx = pipe.context
    assert Path(ctx.artifact, "detector.skops").is_file()
    loaded = load_bundle(ctx.artifact)
    again = loaded.score(ctx.split.test)
    np.testing.assert_array_equal(again.scores, ctx.test_scores.scores)
    np.testing.assert_array_equal(again.flags, ctx.test_scores.flags)


def test_skops_keeps_per_channel_chains_and_the_fallback(tmp_path):
    config = small_config(
        persist={"name": "skops"}, train={"group_by": "channel", "fallback": True}
    )
    ctx = train(tmp_path, config).context
    loaded = load_bundle(ctx.artifact)
    assert set(loaded.detector.chains) == set(ctx.detector.chains)
    assert None in loaded.detector.chains
    assert loaded.detector.thresholds == ctx.detector.thresholds
    np.testing.assert_array_equal(loaded.score(ctx.split.test).scores, ctx.test_scores.scores)
    assert loaded.manifest["group_by"] == "channel"


def test_joblib_compression_is_a_persister_option(tmp_path):
    plain = train(tmp_path / "a").context.artifact
    packed = train(tmp_path / "b", small_config(persist={"compress": 3})).context.artifact
    size = (Path(plain) / "detector.joblib").stat().st_size
    assert (Path(packed) / "detector.joblib").stat().st_size < size
    assert load_bundle(packed, trusted=True).detector is not None


class Stranger:
    """A class outside the skops allow-list."""

    def __init__(self) -> None:
        self.value = 1


def test_skops_refuses_types_outside_the_allow_list(tmp_path):
    path = tmp_path / "x.skops"
    SkopsPersister().dump({"thing": Stranger()}, path)
    with pytest.raises(UntrustedTypeError, match="test_bundle.Stranger"):
        SkopsPersister().load(path)
    name = f"{Stranger.__module__}.Stranger"
    assert isinstance(SkopsPersister(trusted=[name]).load(path)["thing"], Stranger)


def test_skops_refuses_functions_even_from_allowed_modules(tmp_path):
    path = tmp_path / "f.skops"
    SkopsPersister().dump({"f": np.save}, path)
    with pytest.raises(UntrustedTypeError, match="save"):
        SkopsPersister().load(path)


# -- a kill during persist ------------------------------------------------------------------

KILLED_RUN = """
import sys, time
from pathlib import Path
from astraguard_train import Pipeline, PipelineConfig
from astraguard_train.bundle.persisters import JoblibPersister
from astraguard_train.plugins.hookspecs import hookimpl
from astraguard_train.plugins import build_registry

class Slow(JoblibPersister):
    def dump(self, obj, path):
        super().dump(obj, path)  # a whole detector file, then stall before the manifest
        Path(sys.argv[2]).write_text("dumped")
        time.sleep(60)

class Plugin:
    @hookimpl
    def register_persisters(self, register):
        register("slow", Slow)

config = PipelineConfig.from_dict({
    "loader": {"name": "synthetic", "n_samples": 300, "n_channels": 2},
    "model": {"name": "iforest", "n_estimators": 10, "random_state": 0},
    "persist": {"name": "slow"},
})
registry = build_registry(load_entrypoints=False, plugins=[Plugin()])
Pipeline(config, registry).run(output=sys.argv[1])
"""


def test_a_kill_during_persist_leaves_nothing_that_looks_like_a_bundle(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(KILLED_RUN))
    marker = tmp_path / "dumped"
    out = tmp_path / "models"
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the run ended before persisting"
            assert time.monotonic() < deadline, "the run never reached persist"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    root = out / "detector"
    leftovers = [p for p in root.iterdir() if p.is_dir()]
    assert leftovers and all(p.name.startswith(".tmp-") for p in leftovers)
    assert versions(root) == [] and not (root / LATEST).exists()
    assert list_bundles(out) == []
    with pytest.raises(BundleError):
        load_bundle(root)
    assert stale_writes(root) == leftovers  # the writer is dead
    artifact = train(out).context.artifact  # the next write cleans up and takes version 1
    assert Path(artifact).name == "1"
    assert not any(p.name.startswith(".tmp-") for p in root.iterdir() if p.is_dir())
