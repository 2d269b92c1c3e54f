"""Searching: the candidates a ``[search]`` table asks for, and the validation rows they are
scored on. The table itself is structured, like every table, in :mod:`astraguard_train.config`
(:class:`SearchConfig`)::

    [search]
    metric = "roc_auc"          # roc_auc, pr_auc, f1 or event_f1 (higher is better)
    strategy = "grid"           # or "random", with n_candidates
    validation_size = 0.25      # carve validation rows from the training part, or: cv = 5
    seed = 0
    mode = "auto"               # "supervised", "unsupervised" (no labels) or "auto"
    [search.space]              # left out: DEFAULT_MODELS (see default_space)
    "scaler.name" = ["zscore", "quantile"]
    "model.name" = ["iforest", "lof"]
    "model.n_neighbors" = [10, 20, 40]

Every candidate is an ordinary :class:`PipelineConfig`, built from the base config with
:meth:`PipelineConfig.with_values`: choosing another plugin (``model.name``) starts that
table afresh, then the candidate's other keys are applied. A key a candidate's plugin does not
accept (``model.n_neighbors`` for ``iforest``) is left out of that candidate, and candidates
that end up identical are tried once. A value may also be a table
``{low = 1, high = 100, log = true, integer = true}``, sampled by the ``random`` strategy.

Validation rows come from the training part only: ``cv = k`` makes k folds (stratified k-fold
for independent rows; expanding-window folds per channel when rows have timestamps), else
``validation_size`` carves the last (time) or a random share of each channel's training rows,
else the split's own validation part is used, else 25% of the training part is carved.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, cast

import attrs
import numpy as np

from ..config import Distribution, PipelineConfig, SearchConfig, SplitConfig
from ..data.frame import Frame
from ..data.splits import Split, split_frame
from ..errors import DataError
from ..plain_values import plain
from ..plugins.registry import Registry

DEFAULT_VALIDATION_SIZE = 0.25

#: A validation fold with fewer labelled anomalies than this ranks candidates mostly by
#: chance (pima's 40 anomalies: winners 0.1 ROC-AUC apart on test swap places), so ``tune``
#: then scores on :func:`repeated_folds` and keeps the default unless beaten beyond the noise.
FEW_ANOMALIES = 50
#: Folds and repeats of :func:`repeated_folds`.
REPEATED_K = 5
REPEATS = 2


# -- candidates -------------------------------------------------------------------------------

#: Detectors of the default search space (those registered), each with default parameters
#: and the neighbour-based ones with a few neighbour counts: the families that lead published
#: benchmarks on tabular data, cheap enough to try together. PyOD's PCA is left out: with a
#: constant training column it scores rows as infinite, which no metric can rank.
DEFAULT_MODELS = (
    "iforest", "lof", "ocsvm", "pyod.knn", "pyod.hbos", "pyod.ecod", "pyod.copod",
    "pyod.mcd", "pyod.cblof",
)
DEFAULT_NEIGHBOURS = (10, 20, 40)


def default_space(registry: Registry) -> dict[str, tuple[Any, ...]]:
    """The space searched when ``[search]`` has no ``space``: :data:`DEFAULT_MODELS` that are
    registered, and ``model.n_neighbors`` in :data:`DEFAULT_NEIGHBOURS` where it applies."""
    models = tuple(m for m in DEFAULT_MODELS if registry.has("model", m))
    return {"model.name": models, "model.n_neighbors": DEFAULT_NEIGHBOURS}


@attrs.frozen(eq=False)
class Candidate:
    """One configuration to try: the search keys applied to it, and the full config."""

    number: int
    params: dict[str, Any]
    config: PipelineConfig


def _combinations(search: SearchConfig) -> list[dict[str, Any]]:
    keys = list(search.space)
    if search.strategy == "grid":
        # Ranges are refused for grids when the table is structured: only lists remain.
        lists = [cast(tuple[Any, ...], search.space[k]) for k in keys]
        combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*lists)]
        if search.n_candidates is not None:
            combos = combos[: search.n_candidates]
        return combos
    rng = np.random.default_rng(search.seed)
    assert search.n_candidates is not None
    combos = []
    for _ in range(search.n_candidates):
        combo = {}
        for k in keys:
            values = search.space[k]
            if isinstance(values, Distribution):
                combo[k] = values.sample(rng)
            else:
                combo[k] = plain(values[int(rng.integers(len(values)))])
        combos.append(combo)
    return combos


def _stage_of(config: PipelineConfig, key: str) -> tuple[str, Any] | None:
    """The (kind, spec) of the plugin stage a dotted key belongs to, or None (fixed tables)."""
    parts = key.split(".")
    if parts[0] == "transforms":
        i = int(parts[1])
        if i >= len(config.transforms):
            return None
        return "transform", config.transforms[i]
    if parts[0] in ("scaler", "model", "threshold"):
        return parts[0], getattr(config, parts[0])
    return None


def _applies(registry: Registry, config: PipelineConfig, key: str) -> bool:
    """Whether the plugin that ``config`` chose for ``key``'s stage accepts that parameter."""
    stage = _stage_of(config, key)
    if stage is None:
        return True
    kind, spec = stage
    param = key.split(".")[-1]
    if param == "name" or not registry.has(kind, spec.name):
        return True  # an unknown plugin name is reported by config.check with its key
    entry = registry.get(kind, spec.name)
    return entry.open_ended or param in entry.params


def build_candidate(
    base: PipelineConfig,
    params: Mapping[str, Any],
    registry: Registry,
    number: int = 0,
    seed: int | None = None,
) -> Candidate:
    """Apply one combination of search values to ``base``.

    Plugin names are applied first; other keys only where the chosen plugin accepts them.
    A model that takes ``random_state`` and is not given one gets the base config's, or else
    ``seed``, so every candidate (and the winner's config) is reproducible on any backend.

    :returns: the candidate, whose ``params`` hold only the search keys that were applied.
    :raises ConfigError: when the resulting config is invalid (naming the key).
    """
    names = {k: v for k, v in params.items() if k.endswith(".name")}
    config = base.with_values(names)
    rest = {k: v for k, v in params.items() if k not in names and _applies(registry, config, k)}
    applied = {**names, **rest}
    seed_key = "model.random_state"
    fallback = base.model.params.get("random_state", seed)
    model = config.model
    if (
        seed_key not in rest
        and "random_state" not in model.params
        and fallback is not None
        and registry.has("model", model.name)
        and "random_state" in registry.get("model", model.name).params
    ):
        rest[seed_key] = fallback
    if rest:
        config = config.with_values(rest)
    config.check(registry)
    ordered = {k: applied[k] for k in params if k in applied}
    return Candidate(number, ordered, config)


def generate_candidates(
    base: PipelineConfig, search: SearchConfig, registry: Registry
) -> list[Candidate]:
    """Every distinct candidate of the search, numbered from 0 in the order they are tried.

    :raises ConfigError: when a candidate's config is invalid.
    """
    if not search.space:
        search = attrs.evolve(search, space=default_space(registry))
    out: list[Candidate] = []
    seen: set[str] = set()
    for combo in _combinations(search):
        cand = build_candidate(base, combo, registry, number=len(out), seed=search.seed)
        key = repr(sorted(cand.config.to_dict().items()))
        if key in seen:
            continue
        seen.add(key)
        out.append(cand)
    return out


# -- validation rows --------------------------------------------------------------------------


@attrs.frozen(eq=False)
class Fold:
    """Training rows and validation rows for one round of scoring, both from the train part."""

    train: Frame
    validation: Frame


def kfold_positions(
    n_rows: int, k: int, seed: int, labels: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled k-fold (stratified by label when ``labels`` has both classes).

    :returns: k pairs of sorted (train positions, validation positions).
    :raises DataError: when there are fewer rows than folds.
    """
    if n_rows < k:
        raise DataError(f"search.cv: {k} folds need at least {k} training rows, got {n_rows}")
    from sklearn.model_selection import KFold, StratifiedKFold

    stratify = labels is not None and len(np.unique(labels)) == 2
    if stratify:
        assert labels is not None
        counts = np.bincount(labels.astype(np.int64), minlength=2)
        stratify = bool(counts.min() >= k)
    X = np.zeros((n_rows, 1))
    splitter = (
        StratifiedKFold(k, shuffle=True, random_state=seed)
        if stratify
        else KFold(k, shuffle=True, random_state=seed)
    )
    return [
        (np.sort(tr), np.sort(va)) for tr, va in splitter.split(X, labels if stratify else None)
    ]


def expanding_window_positions(frame: Frame, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window folds per channel: each channel's rows, in time order, are cut into
    ``k + 1`` blocks; fold ``i`` trains on blocks ``0..i`` and validates on block ``i + 1``.

    Every channel contributes to every fold, so a per-channel detector always has history.

    :returns: k pairs of (train positions, validation positions), each in time order.
    :raises DataError: when a channel has fewer than ``k + 1`` rows.
    """
    order = frame.time_order()
    if frame.channels is not None:
        _, codes = np.unique(frame.channels[order], return_inverse=True)
    else:
        codes = np.zeros(frame.n_rows, dtype=np.int64)
    sizes = np.bincount(codes)
    if sizes.min() < k + 1:
        small = int(np.argmin(sizes))
        raise DataError(
            f"search.cv: {k} expanding-window folds need {k + 1} rows per channel; "
            f"channel #{small} has {int(sizes[small])}"
        )
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    position = np.arange(frame.n_rows) - starts[codes]  # rows are grouped by channel in `order`
    block = (position * (k + 1)) // sizes[codes]
    return [(order[block <= i], order[block == i + 1]) for i in range(k)]


def validation_folds(split: Split, search: SearchConfig, split_config: SplitConfig) -> list[Fold]:
    """The folds candidates are scored on, all within the training (and validation) parts.

    The test part is never used: it is not even passed in to the fold builders.

    :raises DataError: when the training part is too small for the folds asked for.
    """
    train = split.train
    if search.cv is not None:
        if train.timestamps is not None:
            pairs = expanding_window_positions(train, search.cv)
        else:
            pairs = kfold_positions(train.n_rows, search.cv, search.seed,
                                    train.binary_labels())
        return [Fold(train.take(tr), train.take(va)) for tr, va in pairs]
    if search.validation_size is None and split.validation.n_rows:
        return [Fold(train, split.validation)]
    size = search.validation_size or DEFAULT_VALIDATION_SIZE
    strategy = "time" if train.timestamps is not None else "random"
    binary = train.binary_labels()
    if strategy == "random" and binary is not None and len(np.unique(binary)) == 2:
        strategy = "stratified"
    carve = SplitConfig(
        strategy=strategy, test_size=size, validation_size=0.0, gap=split_config.gap,
        seed=search.seed,
    )
    inner = split_frame(train, carve)
    if inner.train.n_rows == 0 or inner.test.n_rows == 0:
        raise DataError(
            f"search.validation_size: {size} of {train.n_rows} training rows leaves an empty part"
        )
    return [Fold(inner.train, inner.test)]


def fewest_anomalies(folds: list[Fold]) -> int | None:
    """The fewest labelled anomalies in any fold's validation rows (None without labels)."""
    counts = []
    for f in folds:
        labels = f.validation.labels
        if labels is None:
            return None
        counts.append(int((labels == 1).sum()))
    return min(counts)


def repeated_folds(split: Split, seed: int) -> list[Fold]:
    """Folds for a noisy validation: :data:`REPEATS` x stratified :data:`REPEATED_K`-fold on
    the training part (each repeat shuffled with its own seed), or :data:`REPEATED_K`
    expanding-window folds per channel when rows have timestamps (they cannot be shuffled).

    :raises DataError: when the training part is too small for them.
    """
    train = split.train
    if train.timestamps is not None:
        pairs = expanding_window_positions(train, REPEATED_K)
    else:
        pairs = [
            pair
            for r in range(REPEATS)
            for pair in kfold_positions(train.n_rows, REPEATED_K, seed + r,
                                        train.binary_labels())
        ]
    return [Fold(train.take(tr), train.take(va)) for tr, va in pairs]
