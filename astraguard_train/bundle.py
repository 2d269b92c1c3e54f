"""Model bundles: a directory holding the fitted detector and ``manifest.json``.

A bundle is written into a temporary directory beside its final place and renamed into place,
so a crash never leaves a half-written directory that looks whole. ``manifest.json`` records
what produced the bundle and the SHA-256 of every other file; loading verifies every checksum
before anything is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__
from .errors import BundleError, IntegrityError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DETECTOR_FILE = "detector"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _next_version(root: Path) -> int:
    versions = [int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit()] if root.exists() else []
    return max(versions, default=0) + 1


def write_bundle(ctx: Any, output: str | Path) -> Path:
    """Write the run's detector as ``OUTPUT/NAME/<version>``; return the bundle's path."""
    config = ctx.config
    registry = ctx.registry
    persister = registry.create("persister", config.persist.name, config.persist.params, where="persist")
    root = Path(output) / config.persist.bundle_name
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        detector_file = DETECTOR_FILE + getattr(persister, "suffix", ".bin")
        persister.dump(ctx.detector, tmp / detector_file)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = {
            "format_version": FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(),
            "astraguard_train_version": __version__,
            "python": platform.python_version(),
            "persister": config.persist.name,
            "detector_file": detector_file,
            "config": config.to_dict(),
            "input_features": list(ctx.detector.input_columns),
            "output_features": list(ctx.detector.output_columns),
            "threshold": ctx.detector.threshold,
            "threshold_info": ctx.detector.threshold_info,
            "metrics": ctx.metrics,
            "files": files,
        }
        with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        while True:
            final = root / str(_next_version(root))
            try:
                os.rename(tmp, final)  # refuses to replace a non-empty directory
                break
            except OSError:
                if not final.exists():
                    raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read_manifest(path: str | Path) -> dict[str, Any]:
    p = Path(path) / MANIFEST
    if not p.is_file():
        raise BundleError(f"{path}: not a bundle (no {MANIFEST})")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{p}: invalid JSON: {exc}") from None


def verify(path: str | Path) -> dict[str, Any]:
    """Check every file's SHA-256 against the manifest; return the manifest."""
    manifest = read_manifest(path)
    for name, digest in manifest.get("files", {}).items():
        f = Path(path) / name
        if not f.is_file():
            raise IntegrityError(f"{f}: listed in the manifest but missing")
        if sha256_file(f) != digest:
            raise IntegrityError(f"{f}: SHA-256 does not match the manifest; the file was altered")
    return manifest
