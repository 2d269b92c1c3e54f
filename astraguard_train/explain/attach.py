"""Explainers and bundles: fitting one per chain at training time, writing what they learnt
as ``explainer.json`` (plain JSON, listed with its SHA-256 in the manifest), and reading it
back beside a loaded detector.

A bundle written before explanations existed has no ``explainer.json``: asking it to explain
raises :class:`~astraguard_train.errors.NoExplainerError`, which says to retrain with an
``[explain]`` table. Its profile sample is not used instead: the sample holds input rows, not
the model's features, and its rows are not consecutive, so the features of a chain with
temporal transforms (or a forecaster's inputs) cannot be recomputed from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..data.frame import Frame
from ..errors import IntegrityError, NoExplainerError
from ..plain_values import jsonable

EXPLAINER_FILE = "explainer.json"
#: Version of ``explainer.json``'s layout.
EXPLAINER_FORMAT = 1


def fit_explainers(spec: Any, registry: Any, chains: Mapping[Any, Any],
                   features: Mapping[Any, Frame]) -> dict[Any, Any]:
    """One explainer per chain, built from ``spec`` (the ``[explain]`` table) and fitted on
    the chain's training features; ``{}`` when ``spec`` is None."""
    if spec is None:
        return {}
    out = {}
    for key, chain in chains.items():
        explainer = registry.create("explainer", spec.name, spec.params, where="explain")
        out[key] = explainer.fit(chain, features[key])
    return out


def explainer_document(spec: Any, explainers: Mapping[Any, Any]) -> dict[str, Any]:
    """What ``explainer.json`` holds: the explainer's name, parameters and, per chain key
    (as text; ``null`` for the global chain), its fitted state."""
    return {
        "format": EXPLAINER_FORMAT,
        "explainer": spec.name,
        "params": jsonable(dict(spec.params)),
        "chains": [[None if k is None else str(k), jsonable(e.fitted_state())]
                   for k, e in explainers.items()],
    }


def write_explainers(path: Path, spec: Any, explainers: Mapping[Any, Any]) -> None:
    """Write ``explainer.json`` into the (unfinished) bundle directory ``path``."""
    text = json.dumps(explainer_document(spec, explainers), allow_nan=True)
    (path / EXPLAINER_FILE).write_text(text, encoding="utf-8")


def read_explainers(path: Path, manifest: Mapping[str, Any], registry: Any,
                    chain_keys: list[Any]) -> dict[Any, Any]:
    """The explainers of the verified bundle at ``path``, by chain key.

    :raises NoExplainerError: the bundle has none, saying how to add one.
    :raises BundlePluginError: the explainer's plugin is not installed.
    """
    if EXPLAINER_FILE not in manifest["files"]:
        raise NoExplainerError(
            f"{path}: this bundle holds no explainer (it was written before explanations "
            f"existed, or with [explain] explainer = \"none\"); retrain it with an [explain] "
            f"table, e.g. [explain] explainer = \"replace\" (the default), to explain its alarms"
        )
    try:
        doc = json.loads((path / EXPLAINER_FILE).read_text(encoding="utf-8"))
        name, params, chains = doc["explainer"], doc["params"], doc["chains"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{path / EXPLAINER_FILE}: unreadable: {exc}") from None
    if not registry.has("explainer", name):
        from ..errors import BundlePluginError

        hint = " (pip install 'astraguard-train[explain]')" if name == "shap" else ""
        raise BundlePluginError(
            f"{path}: explains with explainer '{name}', which is not installed{hint}"
        )
    by_text = {None if k is None else str(k): k for k in chain_keys}
    out = {}
    for key, state in chains:
        explainer = registry.create("explainer", name, params, where=f"{path}: explain")
        out[by_text.get(key, key)] = explainer.load_state(state)
    return out
