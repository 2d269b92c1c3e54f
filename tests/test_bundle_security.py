"""Bundles other accounts can read, signatures, explicit trust, and refusals that come before
any of a bundle's code runs (a planted ``__reduce__`` writes a marker file if it ever runs)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from bundle_helpers import CSV_OPTIONS, frame_to_csv, rewrite_manifest, small_config, train

from astraguard_train import load_bundle
from astraguard_train.bundle.legacy import LEGACY_MODULES
from astraguard_train.bundle.persisters import JoblibPersister, SkopsPersister
from astraguard_train.bundle.signing import VERIFY_KEY_ENV, generate_keys
from astraguard_train.bundle.store import list_bundles, load, verify, versions
from astraguard_train.cli import main
from astraguard_train.errors import (
    BundleError,
    IntegrityError,
    SignatureError,
    StrayEntryWarning,
    UntrustedBundleError,
    UntrustedTypeError,
)

NOBODY = 65534


class Planted:
    """Unpickling this creates the file ``path``: proof that a bundle's code ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(autouse=True)
def no_verify_key(monkeypatch):
    """Tests set the runtime key themselves: none leaks in from the environment."""
    monkeypatch.delenv(VERIFY_KEY_ENV, raising=False)
    monkeypatch.delenv("ASTRAGUARD_TRAIN_SIGNING_KEY", raising=False)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    private, public = generate_keys(d / "signing.pem")
    other_private, other_public = generate_keys(d / "other.pem")
    return private, public, other_public


@pytest.fixture(scope="module")
def signed(tmp_path_factory, keys):
    """A bundle signed through ``[persist] signing_key``."""
    out = tmp_path_factory.mktemp("signed")
    return train(out, small_config(persist={"signing_key": str(keys[0])}))


@pytest.fixture
def signed_copy(signed, tmp_path):
    dest = tmp_path / "copy"
    shutil.copytree(signed.context.artifact, dest)
    return dest


def plant(version_dir: Path, marker: Path, name: str = "detector.joblib") -> None:
    """Replace the detector with a planted pickle and re-seal the manifest, as a forger would."""
    for old in version_dir.glob("detector.*"):
        old.unlink()
    joblib.dump(Planted(marker), version_dir / name)
    digest = hashlib.sha256((version_dir / name).read_bytes()).hexdigest()

    def forge(m):
        m["files"] = {k: v for k, v in m["files"].items() if not k.startswith("detector.")}
        m["files"][name] = digest
        m["detector_file"] = name
        m["persister"] = "joblib"
        m["config"]["persist"]["name"] = "joblib"

    rewrite_manifest(version_dir, forge)


# -- signatures -----------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_reads(keys):
    private, public, _ = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert public.name == "signing.pem.pub" and b"PUBLIC KEY" in public.read_bytes()
    with pytest.raises(BundleError, match="exists already"):
        generate_keys(private)


def test_a_signed_bundle_loads_with_its_public_key(signed, keys):
    path = Path(signed.context.artifact)
    assert (path / "manifest.sig").read_text().startswith("ed25519 ")
    loaded = load_bundle(path, key=keys[1])  # no trusted=: the signature vouches for it
    np.testing.assert_array_equal(
        loaded.score(signed.context.split.test).scores, signed.context.test_scores.scores
    )


def test_the_runtime_key_can_come_from_the_environment(signed, keys, monkeypatch):
    monkeypatch.setenv(VERIFY_KEY_ENV, str(keys[2]))
    with pytest.raises(SignatureError, match="signed with key"):
        load_bundle(signed.context.artifact)
    monkeypatch.setenv(VERIFY_KEY_ENV, str(keys[1]))
    assert load_bundle(signed.context.artifact).detector is not None


def test_another_key_or_no_signature_is_refused(signed_copy, keys, tmp_path):
    with pytest.raises(SignatureError, match="signed with key .* not with the given key"):
        load_bundle(signed_copy, key=keys[2])
    unsigned = train(tmp_path / "plain").context.artifact
    with pytest.raises(SignatureError, match="not signed"):
        load_bundle(unsigned, key=keys[1], trusted=True)  # trusted does not override a key


def test_a_private_key_is_not_accepted_by_the_runtime(signed, keys):
    with pytest.raises(BundleError, match=r"a private key; .*signing.pem.pub"):
        load_bundle(signed.context.artifact, key=keys[0])


def test_a_rewritten_pickle_and_manifest_are_refused_before_any_code_runs(
    signed_copy, keys, tmp_path
):
    marker = tmp_path / "ran"
    plant(signed_copy, marker)
    assert verify(signed_copy)["files"]  # the checksums alone are satisfied
    with pytest.raises(SignatureError, match="does not match manifest.json"):
        load_bundle(signed_copy, key=keys[1])
    with pytest.raises(UntrustedBundleError, match="it is signed: pass the signer's public key"):
        load_bundle(signed_copy)  # no key: a pickle still needs someone to vouch for it
    assert not marker.exists()
    load_bundle(signed_copy, trusted=True)
    assert marker.exists()  # the plant is real: vouching for it runs it


def test_a_removed_signature_is_refused(signed_copy, keys):
    (signed_copy / "manifest.sig").unlink()
    with pytest.raises(SignatureError, match="not signed"):
        load_bundle(signed_copy, key=keys[1])


# -- explicit trust -------------------------------------------------------------------------


def test_a_joblib_persister_unpickles_only_a_trusted_file(tmp_path):
    marker = tmp_path / "ran"
    joblib.dump(Planted(marker), tmp_path / "x.joblib")
    with pytest.raises(UntrustedBundleError, match="refusing to unpickle"):
        JoblibPersister().load(tmp_path / "x.joblib")
    assert not marker.exists()
    JoblibPersister().load(tmp_path / "x.joblib", trusted=True)
    assert marker.exists()


def test_a_skops_bundle_switched_to_joblib_is_refused(tmp_path):
    artifact = Path(train(tmp_path, small_config(persist={"name": "skops"})).context.artifact)
    assert load_bundle(artifact).detector is not None  # skops needs no trust
    marker = tmp_path / "ran"
    plant(artifact, marker)
    with pytest.raises(UntrustedBundleError, match="it is not signed"):
        load_bundle(artifact)
    assert main(["score", str(artifact), str(tmp_path / "any.csv")]) == 1
    assert not marker.exists()


class Stranger:
    """A class outside the skops allow-list."""


def test_a_bundles_own_skops_allow_list_counts_only_when_vouched_for(tmp_path):
    artifact = Path(train(tmp_path, small_config(persist={"name": "skops"})).context.artifact)
    SkopsPersister().dump({"thing": Stranger()}, artifact / "detector.skops")
    digest = hashlib.sha256((artifact / "detector.skops").read_bytes()).hexdigest()
    name = f"{Stranger.__module__}.Stranger"

    def widen(m):
        m["files"]["detector.skops"] = digest
        m["config"]["persist"]["trusted"] = [name]

    rewrite_manifest(artifact, widen)
    with pytest.raises(UntrustedTypeError, match="counts only for a bundle you vouch for"):
        load(artifact)
    assert isinstance(load(artifact, trusted=True).detector["thing"], Stranger)


# -- refused whatever the key ---------------------------------------------------------------


@pytest.mark.parametrize("escape", ["absolute", "parent"])
def test_a_detector_file_outside_the_bundle_is_refused(signed_copy, tmp_path, escape):
    marker = tmp_path / "ran"
    outside = tmp_path / "evil.joblib"
    joblib.dump(Planted(marker), outside)
    digest = hashlib.sha256(outside.read_bytes()).hexdigest()
    name = str(outside) if escape == "absolute" else "../evil.joblib"

    def escape_to(m):
        m["detector_file"] = name
        m["files"][name] = digest

    rewrite_manifest(signed_copy, escape_to)
    with pytest.raises(IntegrityError, match="not a file name inside the bundle"):
        load_bundle(signed_copy, trusted=True)
    rewrite_manifest(signed_copy, lambda m: m["files"].pop(name))
    with pytest.raises(IntegrityError, match="detector_file: .* not one of the bundle's listed"):
        load_bundle(signed_copy, trusted=True)
    assert not marker.exists()


def test_a_symbolic_link_in_a_bundle_is_refused(signed_copy, tmp_path):
    sample = signed_copy / "profile_sample.npy"
    outside = tmp_path / "sample.npy"
    shutil.move(sample, outside)
    sample.symlink_to(outside)  # same bytes, same SHA-256: only the link gives it away
    with pytest.raises(IntegrityError, match="profile_sample.npy: a symbolic link"):
        load_bundle(signed_copy, trusted=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: [], "expected a JSON object, got list"),
        (lambda m: {**m, "config": "x"}, "key 'config' has type str"),
        (lambda m: {**m, "config": {**m["config"], "persist": "joblib"}}, "config.persist"),
        (lambda m: {**m, "config": {**m["config"], "model": []}}, "config.model"),
        (lambda m: {**m, "plugins": {"model": "iforest"}}, "plugins.model"),
        (lambda m: {**m, "files": {**m["files"], "profile_sample.npy": 7}}, "no SHA-256"),
        (lambda m: {**m, "libraries": {"numpy": 2}}, "libraries.numpy"),
        (lambda m: {**m, "profile": {"a": 1}}, "profile.a"),
    ],
)
def test_a_manifest_of_the_wrong_shape_is_an_integrity_error(signed_copy, change, message):
    path = signed_copy / "manifest.json"
    text = json.dumps(change(json.loads(path.read_text())))
    path.write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    (signed_copy / "manifest.sha256").write_text(f"{digest}  manifest.json\n")
    with pytest.raises(IntegrityError, match=message):
        load_bundle(signed_copy, trusted=True)


def test_listing_reports_a_wrong_shape_instead_of_failing(tmp_path, capsys):
    train(tmp_path)
    train(tmp_path, small_config(persist={"allow_duplicate": True}))
    rewrite_manifest(tmp_path / "detector" / "1", lambda m: m.update(config="x"))
    infos = list_bundles(tmp_path)
    assert "key 'config' has type str" in infos[0].error and infos[1].error is None
    assert main(["models", "list", str(tmp_path)]) == 1
    assert "DAMAGED" in capsys.readouterr().out


def test_a_stray_directory_in_the_store_is_skipped_with_a_warning(tmp_path, capsys):
    train(tmp_path)
    root = tmp_path / "detector"
    (root / "backup").mkdir()
    (root / "²").mkdir()  # str.isdigit() says yes, int() says no
    with pytest.warns(StrayEntryWarning) as record:
        assert versions(root) == [1]
    assert sorted(str(w.message).split(":")[0] for w in record) == [
        str(root / "backup"), str(root / "²")
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StrayEntryWarning)
        again = small_config(persist={"allow_duplicate": True})
        assert Path(train(tmp_path, again).context.artifact).name == "2"
        assert [i.version for i in list_bundles(tmp_path)] == [1, 2]
        assert main(["models", "list", str(tmp_path)]) == 0
    assert "detector/2" in capsys.readouterr().out


# -- the command line -----------------------------------------------------------------------


def test_the_cli_asks_for_trust_or_a_key_and_its_advice_works(tmp_path, keys, capsys):
    pipe = train(tmp_path / "models")
    data = frame_to_csv(pipe.context.split.test, tmp_path / "new.csv")
    options = [f"--loader-option={k}={v}" for k, v in CSV_OPTIONS.items()]
    bundle = str(tmp_path / "models" / "detector")
    assert main(["score", bundle, str(data), *options]) == 1
    err = capsys.readouterr().err
    assert "it is not signed" in err and "pass --trusted" in err
    assert main(["score", bundle, str(data), "--trusted", *options]) == 0
    assert main(["drift", bundle, str(data), *options]) == 1
    assert "pass --trusted" in capsys.readouterr().err


def test_keygen_sign_verify_round_trip_on_the_command_line(tmp_path, monkeypatch, capsys):
    key = tmp_path / "k.pem"
    assert main(["models", "keygen", str(key)]) == 0
    monkeypatch.setenv("ASTRAGUARD_TRAIN_SIGNING_KEY", str(key))
    pipe = train(tmp_path / "models")
    data = frame_to_csv(pipe.context.split.test, tmp_path / "new.csv")
    options = [f"--loader-option={k}={v}" for k, v in CSV_OPTIONS.items()]
    bundle = str(tmp_path / "models" / "detector")
    capsys.readouterr()
    assert main(["models", "verify", bundle]) == 0
    assert "signed, but the signature was not checked: pass --key" in capsys.readouterr().out
    assert main(["models", "verify", bundle, "--key", f"{key}.pub"]) == 0
    assert "intact, signed with key" in capsys.readouterr().out
    assert main(["score", bundle, str(data), "--key", f"{key}.pub", *options]) == 0
    assert main(["models", "list", str(tmp_path / "models"), "--verify", "--key",
                 f"{key}.pub"]) == 0
    plant(Path(pipe.context.artifact), tmp_path / "ran")
    assert main(["models", "verify", bundle, "--key", f"{key}.pub"]) == 1
    assert "does not match manifest.json" in capsys.readouterr().err
    assert main(["score", bundle, str(data), "--key", f"{key}.pub", *options]) == 1
    assert not (tmp_path / "ran").exists()


# -- other accounts -------------------------------------------------------------------------


def _as_nobody(fn) -> str:
    """Run ``fn()`` in a forked child as user nobody; return '' or the child's error."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, report through the pipe, never return
        os.close(read)
        message = ""
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            fn()
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            message = f"{type(exc).__name__}: {exc}" or "failed"
        os.write(write, message.encode()[:60000])
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        out = fh.read().decode()
    os.waitpid(pid, 0)
    return out


@pytest.fixture
def shared_dir():
    """A directory every account may enter (pytest's own tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="astraguard-shared-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _train_with_umask(umask: int, out: Path):
    old = os.umask(umask)
    try:
        return train(out, small_config(persist={"compress": 3}))
    finally:
        os.umask(old)


@pytest.mark.skipif(
    not hasattr(os, "getuid") or os.getuid() != 0,
    reason="needs root, to write as root and read as user nobody",
)
def test_a_bundle_written_by_root_is_loaded_by_another_user(shared_dir):
    pipe = _train_with_umask(0o022, shared_dir / "models")
    path = Path(pipe.context.artifact)
    for p in [path.parent, path, *path.iterdir(), path.parent / "latest"]:
        expected = 0o755 if p.is_dir() else 0o644
        assert stat.S_IMODE(p.stat().st_mode) == expected, p
    test = pipe.context.split.test
    load_bundle(path.parent, trusted=True)  # imports what unpickling needs, as root

    def score() -> None:
        scores = load_bundle(path.parent, trusted=True).score(test).scores
        np.testing.assert_array_equal(scores, pipe.context.test_scores.scores)

    assert _as_nobody(score) == ""
    private = _train_with_umask(0o077, shared_dir / "private")  # the umask is honoured
    assert stat.S_IMODE(Path(private.context.artifact).stat().st_mode) == 0o700
    assert "Permission denied" in _as_nobody(
        lambda: load_bundle(private.context.artifact, trusted=True)
    )


# -- bundles written before the subsystem packages ------------------------------------------


def _as_legacy(data: bytes) -> tuple[bytes, set[str]]:
    """Rename every module in a protocol-2 pickle to its 0.1.0 name; return the old names."""
    back = {f"astraguard_train.{new}": f"astraguard_train.{old}" for old, new in
            LEGACY_MODULES.items()}
    used = set()
    for new, old in sorted(back.items(), key=lambda kv: -len(kv[0])):
        opcode = b"c" + new.encode() + b"\n"  # GLOBAL: the module name as a text line
        if opcode in data:
            data = data.replace(opcode, b"c" + old.encode() + b"\n")
            used.add(old)
    return data, used


@pytest.mark.parametrize(
    "model",
    [{"name": "iforest", "n_estimators": 25, "random_state": 0},
     {"name": "forecast", "window": 8}],
)
def test_a_bundle_pickled_under_the_old_module_paths_still_loads(tmp_path, model):
    pipe = train(tmp_path, small_config(model=model))
    path = Path(pipe.context.artifact)
    buffer = io.BytesIO()
    joblib.dump(pipe.context.detector, buffer, protocol=2)
    data, used = _as_legacy(buffer.getvalue())
    assert "astraguard_train.detector" in used and len(used) >= 2
    (path / "detector.joblib").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    rewrite_manifest(path, lambda m: m["files"].update({"detector.joblib": digest}))
    loaded = load_bundle(path, trusted=True)
    np.testing.assert_array_equal(
        loaded.score(pipe.context.split.test).scores, pipe.context.test_scores.scores
    )
    assert "astraguard_train.detector" not in sys.modules  # nothing is left behind


def test_a_skops_bundle_naming_the_old_module_paths_still_loads(tmp_path):
    pipe = train(tmp_path, small_config(persist={"name": "skops"}))
    path = Path(pipe.context.artifact)
    archive = path / "detector.skops"
    with zipfile.ZipFile(archive) as z:
        members = {n: z.read(n) for n in z.namelist()}
    schema = members["schema.json"].decode()
    for old, new in sorted(LEGACY_MODULES.items(), key=lambda kv: -len(kv[1])):
        schema = schema.replace(f'"astraguard_train.{new}"', f'"astraguard_train.{old}"')
    assert '"astraguard_train.builtin.models"' in schema
    members["schema.json"] = schema.encode()
    with zipfile.ZipFile(archive, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    rewrite_manifest(path, lambda m: m["files"].update({"detector.skops": digest}))
    loaded = load_bundle(path)
    np.testing.assert_array_equal(
        loaded.score(pipe.context.split.test).scores, pipe.context.test_scores.scores
    )
