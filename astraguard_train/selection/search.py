"""The ``[search]`` table: what to try, how to score it, and where validation rows come from.

::

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
:meth:`PipelineConfig.with_overrides`: choosing another plugin (``model.name``) starts that
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
import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import attrs
import numpy as np

from ..config import PipelineConfig, SplitConfig
from ..data.frame import Frame
from ..data.splits import Split, split_frame
from ..errors import ConfigError, DataError
from ..plugins.registry import Registry
from ..toml_writer import format_value

METRICS = ("roc_auc", "pr_auc", "f1", "event_f1")
STRATEGIES = ("grid", "random")
MODES = ("auto", "supervised", "unsupervised")
DEFAULT_VALIDATION_SIZE = 0.25

#: Tables a search may vary. The data, its split and what is written stay fixed, so every
#: candidate sees the same rows and the test part stays the same.
SEARCHABLE = ("transforms", "scaler", "model", "threshold", "train", "postprocess")

_KEYS = ("metric", "strategy", "n_candidates", "validation_size", "cv", "seed", "mode", "space")


@attrs.frozen
class Distribution:
    """A numeric range sampled by the ``random`` strategy (log-uniform when ``log``)."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def sample(self, rng: np.random.Generator) -> float | int:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return int(round(value)) if self.integer else float(value)


@attrs.frozen
class SearchConfig:
    """The structured ``[search]`` table; build it with :meth:`from_mapping`."""

    metric: str = "roc_auc"
    strategy: str = "grid"
    n_candidates: int | None = None
    validation_size: float | None = None
    cv: int | None = None
    seed: int = 0
    mode: str = "auto"
    space: Mapping[str, tuple[Any, ...] | Distribution] = attrs.field(factory=dict)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str = "<config>") -> SearchConfig:
        """Check and structure a ``[search]`` table.

        :raises ConfigError: naming ``search.<key>`` and the rule broken.
        """
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"{where}: search.{unknown[0]}: unknown key; accepted: {', '.join(_KEYS)}"
            )
        kw: dict[str, Any] = {}
        metric = table.get("metric", "roc_auc")
        _one_of(metric, METRICS, "metric", where)
        kw["metric"] = metric
        strategy = table.get("strategy", "grid")
        _one_of(strategy, STRATEGIES, "strategy", where)
        kw["strategy"] = strategy
        mode = table.get("mode", "auto")
        _one_of(mode, MODES, "mode", where)
        kw["mode"] = mode
        n = table.get("n_candidates")
        if n is not None:
            _positive_int(n, "n_candidates", where)
        if strategy == "random" and n is None:
            raise ConfigError(f"{where}: search.n_candidates: required with strategy 'random'")
        kw["n_candidates"] = n
        seed = table.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"{where}: search.seed: expected an integer >= 0, got {seed!r}")
        kw["seed"] = seed
        cv = table.get("cv")
        size = table.get("validation_size")
        if cv is not None and size is not None:
            raise ConfigError(f"{where}: search: set either validation_size or cv, not both")
        if cv is not None:
            _positive_int(cv, "cv", where)
            if cv < 2:
                raise ConfigError(f"{where}: search.cv: needs at least 2 folds, got {cv}")
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, (int, float)) or not 0 < size < 1
        ):
            raise ConfigError(f"{where}: search.validation_size: must be in (0, 1), got {size!r}")
        kw["cv"] = cv
        kw["validation_size"] = float(size) if size is not None else None
        kw["space"] = _structure_space(table.get("space"), strategy, where)
        return cls(**kw)

    @classmethod
    def from_config(cls, config: PipelineConfig) -> SearchConfig:
        """The search table of ``config``; raises :class:`ConfigError` when it has none."""
        where = config.source or "<config>"
        if not config.search:
            raise ConfigError(f"{where}: search: the config has no [search] table to tune")
        return cls.from_mapping(config.search, where)


def _one_of(value: Any, allowed: Sequence[str], key: str, where: str) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{where}: search.{key}: unknown value {value!r}; accepted: {', '.join(allowed)}"
        )


def _positive_int(value: Any, key: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: search.{key}: expected a positive integer, got {value!r}")


def _structure_space(
    space: Any, strategy: str, where: str
) -> dict[str, tuple[Any, ...] | Distribution]:
    if space is None:
        return {}  # the default space, filled in from the registry
    if not isinstance(space, Mapping) or not space:
        raise ConfigError(
            f"{where}: search.space: expected a table of dotted keys to lists of values, "
            'e.g. "model.name" = ["iforest", "lof"]'
        )
    out: dict[str, tuple[Any, ...] | Distribution] = {}
    for key, values in space.items():
        at = f'{where}: search.space."{key}"'
        parts = key.split(".")
        if len(parts) < 2 or parts[0] not in SEARCHABLE:
            raise ConfigError(
                f"{at}: a search may vary only keys under {', '.join(SEARCHABLE)} "
                "(the data, its split and the output stay fixed), as dotted keys like model.name"
            )
        if parts[0] == "transforms" and (len(parts) < 3 or not parts[1].isdigit()):
            raise ConfigError(f"{at}: transforms keys need an item number: transforms.0.window")
        if isinstance(values, Mapping):
            out[key] = _distribution(values, strategy, at)
        elif isinstance(values, (list, tuple)) and values:
            if parts[-1] == "name" and not all(isinstance(v, str) and v for v in values):
                raise ConfigError(f"{at}: plugin names must be non-empty strings")
            out[key] = tuple(values)
        else:
            raise ConfigError(f"{at}: expected a non-empty list of values, got {values!r}")
    return out


def _distribution(table: Mapping[str, Any], strategy: str, at: str) -> Distribution:
    if strategy != "random":
        raise ConfigError(f"{at}: a range {{low, high}} needs strategy = 'random'; list values")
    extra = sorted(set(table) - {"low", "high", "log", "integer"})
    if extra or "low" not in table or "high" not in table:
        raise ConfigError(f"{at}: a range is {{low = ..., high = ..., log = bool, integer = bool}}")
    low, high = table["low"], table["high"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        raise ConfigError(f"{at}: low and high must be numbers")
    if not low < high:
        raise ConfigError(f"{at}: low must be below high, got {low} and {high}")
    log = bool(table.get("log", False))
    if log and low <= 0:
        raise ConfigError(f"{at}: a log range needs low > 0, got {low}")
    return Distribution(float(low), float(high), log, bool(table.get("integer", False)))


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
                combo[k] = _plain(values[int(rng.integers(len(values)))])
        combos.append(combo)
    return combos


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


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


def _assignment(key: str, value: Any) -> str:
    return f"{key}={format_value(value, f'search.space.{key}')}"


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
    config = base.with_overrides([_assignment(k, v) for k, v in names.items()])
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
        config = config.with_overrides([_assignment(k, v) for k, v in rest.items()])
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
            pairs = kfold_positions(train.n_rows, search.cv, search.seed, train.labels)
        return [Fold(train.take(tr), train.take(va)) for tr, va in pairs]
    if search.validation_size is None and split.validation.n_rows:
        return [Fold(train, split.validation)]
    size = search.validation_size or DEFAULT_VALIDATION_SIZE
    strategy = "time" if train.timestamps is not None else "random"
    if strategy == "random" and train.labels is not None and len(np.unique(train.labels)) == 2:
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
