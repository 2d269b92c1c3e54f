"""Pipeline configuration: TOML (or a dict, or Python) structured into frozen attrs classes.

Every plugin stage is a table whose ``name`` picks the plugin and whose other keys are that
plugin's parameters. Other tables (``[split]``, ``[train]``, ...) have fixed keys. Unknown keys
and wrong types are a :class:`ConfigError` naming the file and the dotted key path; unknown
plugin parameters are caught by :meth:`PipelineConfig.check` against the registry.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

# -- value checks ---------------------------------------------------------------------------
# Each check raises ConfigError("<field>: <rule>, got <value>"); structuring adds the file and
# the table, so a bad value is refused before any data is read, whichever way it was given.


def _at_least(low: float) -> Any:
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and value < low:
            raise ConfigError(f"{attribute.name}: must be at least {low}, got {value!r}")

    return check


def _share(low_open: bool = False, high_open: bool = False) -> Any:
    """A fraction in [0, 1]; ``low_open`` / ``high_open`` exclude 0 / 1."""
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if (value <= 0 if low_open else value < 0) or (value >= 1 if high_open else value > 1):
            raise ConfigError(
                f"{attribute.name}: must be a share in {lo}0, 1{hi}, got {value!r}"
            )

    return check


def _choice(*choices: str | None) -> Any:
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in choices:
            shown = ", ".join(c for c in choices if c is not None)
            raise ConfigError(
                f"{attribute.name}: unknown value {value!r}{_did_you_mean(value, choices)}; "
                f"accepted: {shown}"
            )

    return check


def _levels(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    for name, level in value.items():
        if name not in QUALITY_CHECKS:
            raise ConfigError(
                f"{attribute.name}.{name}: unknown check{_did_you_mean(name, QUALITY_CHECKS)}; "
                f"checks: {', '.join(QUALITY_CHECKS)}"
            )
        if level not in QUALITY_LEVELS:
            raise ConfigError(
                f"{attribute.name}.{name}: {level!r} is not one of {', '.join(QUALITY_LEVELS)}"
            )


def _jobs(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value == 0:
        raise ConfigError(
            f"{attribute.name}: must be a non-zero integer (-1 = every core), got {value!r}"
        )


def _did_you_mean(word: Any, choices: Iterable[Any]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    names = [c for c in choices if isinstance(c, str)]
    close = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


#: The ``[missing] policy`` values (see :mod:`astraguard_train.data.missing`).
MISSING_POLICIES = ("fail", "drop", "ffill", "median")
#: The ``[split] strategy`` values (see :mod:`astraguard_train.data.splits`).
SPLIT_STRATEGIES = ("random", "stratified", "time", "column")
#: The checks ``[validation.levels]`` may set, and their levels (see
#: :mod:`astraguard_train.data.quality`).
QUALITY_CHECKS = (
    "min_samples",
    "required_columns",
    "missing_share",
    "missing_share_column",
    "non_finite",
    "ranges",
    "constant_columns",
    "duplicate_timestamps",
    "timestamps_backwards",
    "labels",
    "label_share",
)
QUALITY_LEVELS = ("error", "warn", "off")
#: The ``[train] backend`` values (see :mod:`astraguard_train.parallel`).
BACKENDS = ("loky", "threading", "dask", "dask-local")
#: The ``[train] on_group_failure`` values: a group whose chain cannot be fitted fails the
#: run, or is left out of the bundle (which says so).
GROUP_FAILURE_POLICIES = ("fail", "skip")

# -- tables ---------------------------------------------------------------------------------


@attrs.frozen
class StageSpec:
    """A plugin stage: ``name`` picks the plugin; ``params`` are passed to its factory."""

    name: str
    params: Mapping[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **copy.deepcopy(dict(self.params))}


@attrs.frozen
class ValidationConfig:
    """``[validation]``: quality gates run on the loaded data before anything is fitted."""

    enabled: bool = True
    min_samples: int = attrs.field(default=10, validator=_at_least(0))
    required_columns: tuple[str, ...] = ()
    max_missing_share: float = attrs.field(default=0.05, validator=_share())
    max_missing_share_column: float = attrs.field(default=0.2, validator=_share())
    ranges: dict[str, list[float]] = attrs.field(factory=dict)
    levels: dict[str, str] = attrs.field(factory=dict, validator=_levels)
    max_examples: int = attrs.field(default=5, validator=_at_least(0))


@attrs.frozen
class MissingConfig:
    """``[missing]``: what to do with missing (NaN) feature values."""

    policy: str = attrs.field(default="fail", validator=_choice(*MISSING_POLICIES))


@attrs.frozen
class SplitConfig:
    """``[split]``: how rows are divided into train, validation and test parts.

    ``strategy`` is ``random``, ``stratified``, ``time`` or ``column``; unset, it is ``time``
    when the data has timestamps and ``random`` otherwise.
    """

    strategy: str | None = attrs.field(default=None, validator=_choice(None, *SPLIT_STRATEGIES))
    test_size: float = attrs.field(default=0.3, validator=_share(high_open=True))
    validation_size: float = attrs.field(default=0.0, validator=_share(high_open=True))
    gap: int = attrs.field(default=0, validator=_at_least(0))
    seed: int = 42
    column: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.strategy != "column" and self.test_size + self.validation_size >= 1.0:
            raise ConfigError(
                f"test_size: test_size + validation_size must be below 1, got "
                f"{self.test_size} + {self.validation_size}"
            )


@attrs.frozen
class TrainConfig:
    """``[train]``: how the detector chain is fitted."""

    group_by: str | None = None
    exclude_labelled_anomalies: bool = False
    fallback: bool = False
    n_jobs: int = attrs.field(default=1, validator=_jobs)
    backend: str = attrs.field(default="loky", validator=_choice(*BACKENDS))
    scheduler: str | None = None
    on_group_failure: str = attrs.field(
        default="fail", validator=_choice(*GROUP_FAILURE_POLICIES)
    )


@attrs.frozen
class EvaluateConfig:
    """``[evaluate]``: which metric plugins run on the test part (all registered when unset)."""

    metrics: tuple[str, ...] | None = None


#: ``[postprocess]`` values for channel telemetry when the table leaves them unset: a blip of
#: one or two rows is no alarm, and an anomaly that flickers is one alarm, not several.
CHANNEL_ALARMS = {"min_event_length": 3, "merge_gap": 10}
#: ... and for other data: every flagged row as it is.
ROW_FLAGS = {"min_event_length": 1, "merge_gap": 0}


@attrs.frozen
class PostprocessConfig:
    """``[postprocess]``: turn raw flags into operator-sized alarms (see postprocess.py).

    ``min_event_length`` and ``merge_gap`` left unset take :data:`CHANNEL_ALARMS` for channel
    telemetry (see :meth:`PipelineConfig.channel_telemetry`) and :data:`ROW_FLAGS` otherwise.
    ``causal = true`` uses forms where a row's flag never depends on later rows.
    """

    min_event_length: int | None = attrs.field(default=None, validator=_at_least(1))
    merge_gap: int | None = attrs.field(default=None, validator=_at_least(0))
    causal: bool = False

    def resolved(self, channel_telemetry: bool) -> PostprocessConfig:
        """This table with unset values filled in (see the class docstring)."""
        defaults = CHANNEL_ALARMS if channel_telemetry else ROW_FLAGS
        return PostprocessConfig(
            min_event_length=self.min_event_length
            if self.min_event_length is not None else defaults["min_event_length"],
            merge_gap=self.merge_gap if self.merge_gap is not None else defaults["merge_gap"],
            causal=self.causal,
        )


@attrs.frozen
class PersistConfig:
    """``[persist]``: the persister plugin, where bundles go and what they are called."""

    name: str = "joblib"
    output: str = "models"
    bundle_name: str = "detector"
    #: Ed25519 private key file (PEM) that signs each bundle's manifest; when unset, the
    #: ``ASTRAGUARD_TRAIN_SIGNING_KEY`` environment variable names it (or bundles go unsigned).
    signing_key: str | None = None
    #: Write a new version even when one with the same config and training data exists
    #: (by default the run reports that version instead of adding a copy).
    allow_duplicate: bool = False
    params: Mapping[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "output": self.output,
            "bundle_name": self.bundle_name,
        }
        if self.signing_key is not None:
            out["signing_key"] = self.signing_key
        if self.allow_duplicate:
            out["allow_duplicate"] = True
        return {**out, **copy.deepcopy(dict(self.params))}


@attrs.frozen
class ExplainConfig:
    """``[explain]``: the explainer attached to the bundle at training time (see
    docs/explanations.md). ``explainer`` names the plugin (``"none"``: attach none); the
    table's other keys are its parameters."""

    explainer: str = "replace"
    params: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        """The explainer plugin's name (as other stages' ``name``)."""
        return self.explainer

    @property
    def enabled(self) -> bool:
        return self.explainer != "none"

    def to_dict(self) -> dict[str, Any]:
        return {"explainer": self.explainer, **copy.deepcopy(dict(self.params))}


#: ``[persist]`` keys of the core; the table's other keys are the persister plugin's.
PERSIST_KEYS = ("name", "output", "bundle_name", "signing_key", "allow_duplicate")


@attrs.frozen
class TrackingConfig:
    """``[tracking]``: where a tracking plugin (such as astraguard-train-mlflow) records runs.

    The core records nothing itself; the table carries the settings to the plugins that
    observe runs. Bundles leave it out of their manifest: it changes nothing in the model, and
    a tracking URI may hold credentials.
    """

    uri: str | None = None
    experiment: str | None = None


# -- [search] -------------------------------------------------------------------------------
#
# The table ``tune`` reads (see selection/search.py for what is done with it). It is
# structured here, like every other table, so that reading a config needs nothing above it.

SEARCH_METRICS = ("roc_auc", "pr_auc", "f1", "event_f1")
SEARCH_STRATEGIES = ("grid", "random")
SEARCH_MODES = ("auto", "supervised", "unsupervised")

#: Tables a search may vary. The data, its split and what is written stay fixed, so every
#: candidate sees the same rows and the test part stays the same.
SEARCHABLE = ("transforms", "scaler", "model", "threshold", "train", "postprocess")


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

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class SearchConfig:
    """``[search]``: what ``tune`` tries and how it scores candidates; build it with
    :meth:`from_mapping` (a config's ``search`` is one, or None without the table)."""

    metric: str = "roc_auc"
    strategy: str = "grid"
    n_candidates: int | None = None
    validation_size: float | None = None
    cv: int | None = None
    seed: int = 0
    mode: str = "auto"
    space: Mapping[str, tuple[Any, ...] | Distribution] = attrs.field(factory=dict)

    @classmethod
    def from_mapping(cls, table: Any, where: str = "<config>") -> SearchConfig:
        """Check and structure a ``[search]`` table.

        :raises ConfigError: naming ``search.<key>`` and the rule broken.
        """
        table = _expect_table(table, "search", where)
        fixed = {k: v for k, v in table.items() if k != "space"}
        _check_fields(cls, fixed, "search", where)
        search = cls(**fixed, space=_structure_space(table.get("space"), where))
        search._check_values(where)
        return search

    @classmethod
    def from_config(cls, config: PipelineConfig) -> SearchConfig:
        """The search table of ``config``; raises :class:`ConfigError` when it has none."""
        if config.search is None:
            where = config.source or "<config>"
            raise ConfigError(f"{where}: search: the config has no [search] table to tune")
        return config.search

    def _check_values(self, where: str) -> None:
        _one_of(self.metric, SEARCH_METRICS, "metric", where)
        _one_of(self.strategy, SEARCH_STRATEGIES, "strategy", where)
        _one_of(self.mode, SEARCH_MODES, "mode", where)
        if self.n_candidates is not None:
            _positive_int(self.n_candidates, "n_candidates", where)
        if self.strategy == "random" and self.n_candidates is None:
            raise ConfigError(f"{where}: search.n_candidates: required with strategy 'random'")
        if self.seed < 0:
            raise ConfigError(
                f"{where}: search.seed: expected an integer >= 0, got {self.seed!r}"
            )
        if self.cv is not None and self.validation_size is not None:
            raise ConfigError(f"{where}: search: set either validation_size or cv, not both")
        if self.cv is not None:
            _positive_int(self.cv, "cv", where)
            if self.cv < 2:
                raise ConfigError(f"{where}: search.cv: needs at least 2 folds, got {self.cv}")
        size = self.validation_size
        if size is not None and not 0 < size < 1:
            raise ConfigError(f"{where}: search.validation_size: must be in (0, 1), got {size!r}")
        for key, values in self.space.items():
            if isinstance(values, Distribution) and self.strategy != "random":
                raise ConfigError(
                    f'{where}: search.space."{key}": a range {{low, high}} needs '
                    "strategy = 'random'; list values"
                )

    def to_dict(self) -> dict[str, Any]:
        """The table as TOML-compatible data (unset keys and an empty space left out)."""
        out = _drop_none(attrs.asdict(self, recurse=False))
        space = out.pop("space")
        if space:
            out["space"] = {
                k: v.to_dict() if isinstance(v, Distribution) else list(v)
                for k, v in space.items()
            }
        return out


def _one_of(value: Any, allowed: Sequence[str], key: str, where: str) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{where}: search.{key}: unknown value {value!r}; accepted: {', '.join(allowed)}"
        )


def _positive_int(value: int, key: str, where: str) -> None:
    if value < 1:
        raise ConfigError(f"{where}: search.{key}: expected a positive integer, got {value!r}")


def _structure_space(space: Any, where: str) -> dict[str, tuple[Any, ...] | Distribution]:
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
            out[key] = _distribution(values, at)
        elif isinstance(values, (list, tuple)) and values:
            if parts[-1] == "name" and not all(isinstance(v, str) and v for v in values):
                raise ConfigError(f"{at}: plugin names must be non-empty strings")
            out[key] = tuple(values)
        else:
            raise ConfigError(f"{at}: expected a non-empty list of values, got {values!r}")
    return out


def _distribution(table: Mapping[str, Any], at: str) -> Distribution:
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


def _as_search(value: SearchConfig | Mapping[str, Any] | None) -> SearchConfig | None:
    # A config built in Python may give the table as a dict, as TOML does.
    if value is None or isinstance(value, SearchConfig):
        return value
    return SearchConfig.from_mapping(value)


def _default_loader() -> StageSpec:
    return StageSpec("synthetic", {})


@attrs.frozen
class PipelineConfig:
    """The whole pipeline: one attribute per TOML table.

    ``PipelineConfig()`` is the embedded default pipeline (synthetic telemetry, z-score,
    Isolation Forest, joblib bundle).
    """

    loader: StageSpec = attrs.field(factory=_default_loader)
    validation: ValidationConfig = attrs.field(factory=ValidationConfig)
    missing: MissingConfig = attrs.field(factory=MissingConfig)
    split: SplitConfig = attrs.field(factory=SplitConfig)
    transforms: tuple[StageSpec, ...] = ()
    scaler: StageSpec = attrs.field(factory=lambda: StageSpec("zscore"))
    model: StageSpec = attrs.field(factory=lambda: StageSpec("iforest", {"random_state": 42}))
    threshold: StageSpec = attrs.field(
        factory=lambda: StageSpec("contamination", {"contamination": 0.05})
    )
    train: TrainConfig = attrs.field(factory=TrainConfig)
    evaluate: EvaluateConfig = attrs.field(factory=EvaluateConfig)
    postprocess: PostprocessConfig = attrs.field(factory=PostprocessConfig)
    persist: PersistConfig = attrs.field(factory=PersistConfig)
    explain: ExplainConfig = attrs.field(factory=ExplainConfig)
    tracking: TrackingConfig = attrs.field(factory=TrackingConfig)
    search: SearchConfig | None = attrs.field(default=None, converter=_as_search)
    source: str | None = attrs.field(default=None, eq=False)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path) -> PipelineConfig:
        """Read a TOML file; syntax errors and bad keys name the file."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file does not exist") from None
        except UnicodeDecodeError as exc:
            line = exc.object.count(b"\n", 0, exc.start) + 1
            raise ConfigError(
                f"{p}: line {line}: byte {exc.object[exc.start:exc.start + 1]!r} is not UTF-8; "
                "a TOML file is UTF-8 text: save it in that encoding"
            ) from None
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read config: {exc.strerror}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from None
        return cls.from_dict(_relative_to(data, p.parent), source=str(p))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> PipelineConfig:
        """Structure a mapping shaped like the TOML file; tables left out keep their defaults."""
        where = source or "<config>"
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: a config must be a table, got {type(data).__name__}")
        fields = attrs.fields_dict(cls)
        tables = set(fields) - {"source"}
        unknown = sorted(set(data) - tables)
        if unknown:
            raise ConfigError(
                f"{where}: unknown table '{unknown[0]}'{_did_you_mean(unknown[0], tables)}; "
                f"accepted tables: {', '.join(sorted(tables))}"
            )
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            kwargs[key] = _structure_table(key, value, where)
        return cls(**kwargs, source=source)

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved config as plain TOML-compatible data (None values left out)."""
        out: dict[str, Any] = {}
        for f in attrs.fields(type(self)):
            value = getattr(self, f.name)
            if f.name == "source" or value is None:
                continue
            if f.name == "transforms":
                out[f.name] = [t.to_dict() for t in value]
            elif isinstance(value, (StageSpec, PersistConfig, SearchConfig, ExplainConfig)):
                out[f.name] = value.to_dict()
            elif isinstance(value, TrackingConfig):
                if value != TrackingConfig():  # an unset [tracking] is left out, like [search]
                    out[f.name] = _drop_none(attrs.asdict(value))
            else:
                out[f.name] = _drop_none(attrs.asdict(value))
        return out

    def with_overrides(self, assignments: Iterable[str]) -> PipelineConfig:
        """Apply ``--set`` assignments such as ``model.n_estimators=300``.

        The value is parsed as a TOML value (``300``, ``0.5``, ``true``, ``"x"``, ``[1, 2]``);
        anything that is not valid TOML is taken as a plain string. List tables are indexed:
        ``transforms.0.window=10``.
        """
        parsed: list[tuple[str, Any, str]] = []
        for item in assignments:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ConfigError(
                    f"--set {item!r}: expected KEY=VALUE, e.g. model.n_estimators=300"
                )
            parsed.append((key, _parse_value(raw.strip()), f"--set {item!r}"))
        return self._assigned(parsed)

    def with_values(self, values: Mapping[str, Any]) -> PipelineConfig:
        """Like :meth:`with_overrides`, with values given as Python data, keyed by dotted key
        (``{"model.name": "lof", "model.n_neighbors": 20}``)."""
        return self._assigned([(key, value, key) for key, value in values.items()])

    def _assigned(self, assignments: list[tuple[str, Any, str]]) -> PipelineConfig:
        data = self.to_dict()
        # Choosing another plugin starts its table afresh: the old plugin's parameters rarely
        # apply to the new one. Name changes go first so the other assignments land on top.
        ordered = sorted(
            ((key.split("."), value, label) for key, value, label in assignments),
            key=lambda p: p[0][-1] != "name",
        )
        for path, value, label in ordered:
            if path[-1] == "name" and path[0] in _PLUGIN_TABLES:
                table = _lookup(data, path[:-1])
                if isinstance(table, dict) and table.get("name") != value:
                    keep = _PLUGIN_TABLES[path[0]]
                    for k in [k for k in table if k not in keep]:
                        del table[k]
            _assign(data, path, value, label)
        return type(self).from_dict(data, source=self.source)

    @property
    def channel_telemetry(self) -> bool:
        """Whether rows are channel telemetry: the loader names a channel column, or one chain
        is trained per channel. Such pipelines get alarm-level post-processing by default."""
        return bool(self.loader.params.get("channel_column")) or self.train.group_by == "channel"

    def evolve(self, **changes: Any) -> PipelineConfig:
        return attrs.evolve(self, **changes)

    # -- checking against the registry ----------------------------------------------------------
    def stages(self) -> list[tuple[str, str, StageSpec | PersistConfig]]:
        """Every plugin stage as (dotted key, kind, spec)."""
        out: list[tuple[str, str, Any]] = [("loader", "loader", self.loader)]
        out += [(f"transforms.{i}", "transform", t) for i, t in enumerate(self.transforms)]
        out += [
            ("scaler", "scaler", self.scaler),
            ("model", "model", self.model),
            ("threshold", "threshold", self.threshold),
            ("persist", "persister", self.persist),
        ]
        if self.explain.enabled:
            out.append(("explain", "explainer", self.explain))
        return out

    def check(self, registry: Any) -> None:
        """Check every stage's plugin name and parameters against ``registry``.

        :raises ConfigError: naming the file and dotted key of the first problem.
        """
        where = self.source or "<config>"
        for key, kind, spec in self.stages():
            try:
                entry = registry.get(kind, spec.name)
            except LookupError as exc:
                raise ConfigError(f"{where}: {key}.name: {exc}") from None
            entry.check_params(spec.params, f"{where}: {key}")
        for name in self.evaluate.metrics or ():
            if not registry.has("metric", name):
                raise ConfigError(
                    f"{where}: evaluate.metrics: unknown metric '{name}'; "
                    f"available: {', '.join(registry.names('metric'))}"
                )


# -- structuring ----------------------------------------------------------------------------


def _structure_table(key: str, value: Any, where: str) -> Any:
    if key in ("loader", "scaler", "model", "threshold"):
        return _stage_spec(value, key, where)
    if key == "transforms":
        if not isinstance(value, list):
            raise ConfigError(f"{where}: transforms: expected a list of tables ([[transforms]])")
        return tuple(_stage_spec(v, f"transforms.{i}", where) for i, v in enumerate(value))
    if key == "persist":
        table = _expect_table(value, key, where)
        fixed = {k: table[k] for k in PERSIST_KEYS if k in table}
        _check_fields(PersistConfig, fixed, key, where)
        params = {k: v for k, v in table.items() if k not in fixed}
        return PersistConfig(**fixed, params=params)
    if key == "search":
        return SearchConfig.from_mapping(value, where)
    if key == "explain":
        table = _expect_table(value, key, where)
        name = table.get("explainer", "replace")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: explain.explainer: expected the name of an explainer "
                              f"plugin (a string), got {name!r}")
        return ExplainConfig(name, {k: v for k, v in table.items() if k != "explainer"})
    cls = typing.get_type_hints(PipelineConfig)[key]
    table = _expect_table(value, key, where)
    _check_fields(cls, table, key, where)
    try:
        return cls(**{k: _convert(v) for k, v in table.items()})
    except ConfigError as exc:  # a value out of range: the check names the field
        raise ConfigError(f"{where}: {key}.{exc}") from None


def _stage_spec(value: Any, key: str, where: str) -> StageSpec:
    table = _expect_table(value, key, where)
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: {key}.name: required, the name of a plugin (a string)")
    return StageSpec(name, {k: v for k, v in table.items() if k != "name"})


def _expect_table(value: Any, key: str, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: {key}: expected a table, got {type(value).__name__}")
    return value


def _check_fields(cls: type, table: Mapping[str, Any], key: str, where: str) -> None:
    hints = typing.get_type_hints(cls)
    accepted = [f.name for f in attrs.fields(cls) if f.name != "params"]
    for name, value in table.items():
        if name not in accepted:
            raise ConfigError(
                f"{where}: {key}.{name}: unknown key{_did_you_mean(name, accepted)}; "
                f"accepted: {', '.join(accepted)}"
            )
        if not value_matches(value, hints[name]):
            raise ConfigError(
                f"{where}: {key}.{name}: expected {type_name(hints[name])}, "
                f"got {value!r} ({type(value).__name__})"
            )


def value_matches(value: Any, hint: Any) -> bool:
    """Whether a TOML ``value`` fits type annotation ``hint`` (unknown kinds of hint fit)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(value_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        inner = args[0] if args else Any
        return all(value_matches(v, inner) for v in value)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            return False
        inner = args[1] if len(args) == 2 else Any
        return all(isinstance(k, str) and value_matches(v, inner) for k, v in value.items())
    return True


def type_name(hint: Any) -> str:
    """``hint`` as it reads in a message: ``int``, ``str | None``."""
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _convert(value: Any) -> Any:
    return (
        tuple(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value)
        else value
    )


#: The (table, key) pairs that hold a path; in a TOML file they are relative to the file.
PATH_KEYS: tuple[tuple[str, str], ...] = (("loader", "path"), ("persist", "output"))


def _relative_to(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """``data`` with the relative paths of :data:`PATH_KEYS` joined to ``base``."""
    for table, key in PATH_KEYS:
        section = data.get(table)
        if isinstance(section, dict) and isinstance(section.get(key), str):
            value = section[key]
            if not os.path.isabs(os.path.expanduser(value)):
                section[key] = os.path.normpath(os.path.join(base, value))
    return data


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if v is not None}


# Plugin tables, and the keys of each that are not the plugin's own parameters.
_PLUGIN_TABLES: dict[str, tuple[str, ...]] = {
    "loader": (),
    "transforms": (),
    "scaler": (),
    "model": (),
    "threshold": (),
    "persist": PERSIST_KEYS[1:],
}


def _lookup(data: Any, path: list[str]) -> Any:
    node = data
    for part in path:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def _parse_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _assign(data: dict[str, Any], path: list[str], value: Any, label: str) -> None:
    node: Any = data
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{label}: no item {part} in {'.'.join(path[:i])}")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"{label}: {'.'.join(path[: i + 1])} is not a table")
    last = path[-1]
    if isinstance(node, list):
        raise ConfigError(f"{label}: cannot set a whole item of a list")
    node[last] = value
