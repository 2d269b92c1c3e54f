"""The retraining policy: a TOML file saying when to retrain, on what, how, and how to decide.

::

    [champion]
    store = "models/detector"        # OUTPUT/NAME: the champion and its challengers live here

    [data]
    path = "telemetry/recent.csv.gz" # new telemetry, read with the champion's loader options
    loader_options = {}              # overrides of those options

    [triggers]                       # any one that fires starts a retraining
    drifted_features = 2             # at least K input features drifted (PSI or KS)
    psi_threshold = 0.2
    ks_alpha = 0.01
    new_verdicts = 50                # at least N verdicts since the champion was trained
    false_alarm_rate = 0.3           # share of false_alarm among them above this budget
    max_age_days = 30                # the champion is older than this (clock time)
    max_data_age_days = 7            # the newest row the champion was tested on (its test
                                     # rows, or an A/B it held against a challenger) is this
                                     # much older than the data's newest row (data time)
    alarm_rate_ratio = 3             # the champion's flagged share on the recent rows is above
                                     # 3x, or below 1/3 of, the share it was accepted with
    recent_days = 1                  # or recent_rows (per channel): the newest rows the drift
                                     # and alarm-rate triggers judge (default: the whole file)
    cooldown_days = 3                # optional: no new challenger within 3 days (data time)
                                     # of the last one

    [window]
    last_days = 14                   # or last_rows (per channel); the data to retrain on
    include_training_data = false    # add the champion's own training rows
    since_change = false             # start the window where the data last changed: the
                                     # oldest recent period before it that drifted from the
                                     # newest ends it (needs recent_days or recent_rows)
    min_rows = 500                   # optional: fewer rows per channel in the window (e.g.
                                     # just after a change) and no challenger is trained yet
    holdout = 0.3                    # latest share of the window, per channel: the A/B rows

    [retrain]
    mode = "refit"                   # refit (the champion's config), update, or tune
    config = "pipeline.toml"         # optional: another pipeline config (tune: its [search])

    [decision]
    rule = "confidently_better"      # a decision_rule plugin
    options = { min_events = 5 }
    key_metric = "f1"                # optional: event_f1 (time series) or f1 (rows)
    reevaluate = true                # a challenger kept for want of evidence stays in shadow:
                                     # while the cooldown holds, every run (a trigger firing
                                     # or not) compares it again on the rows newer than its
                                     # training

Everything is checked when the policy is read, before any data is: unknown tables and keys
(with a did-you-mean), values out of range, a window given two ways, ``since_change`` without
a recent period to compare with, and a policy with no trigger at all (it could never retrain).
:meth:`RetrainPolicy.check` then checks it against the champion's manifest (a drift trigger on
more features than the champion has can never fire; an alarm-rate trigger needs the
champion's flagged share on its test rows) and the registry (the decision rule exists and
accepts its parameters).
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..bundle.evaluation import EVALUATION_FILE
from ..config import _at_least, _check_fields, _choice, _did_you_mean, _expect_table, _share
from ..errors import ConfigError
from .comparison import KEY_METRICS

#: How a challenger is trained.
MODES = ("refit", "update", "tune")


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"{attribute.name}: must be above 0, got {value!r}")


def _above_one(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 1:
        raise ConfigError(f"{attribute.name}: must be above 1 (a factor either way), "
                          f"got {value!r}")


@attrs.frozen
class ChampionTable:
    """``[champion]``: the bundle store ``OUTPUT/NAME``."""

    store: str


@attrs.frozen
class DataTable:
    """``[data]``: the new telemetry, read with the champion's loader options."""

    path: str
    loader_options: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class TriggersTable:
    """``[triggers]``: any one set here that fires starts a retraining."""

    drifted_features: int | None = attrs.field(default=None, validator=_at_least(1))
    psi_threshold: float = attrs.field(default=0.2, validator=_positive)
    ks_alpha: float = attrs.field(default=0.01, validator=_share(low_open=True, high_open=True))
    new_verdicts: int | None = attrs.field(default=None, validator=_at_least(1))
    false_alarm_rate: float | None = attrs.field(default=None, validator=attrs.validators.optional(
        _share(high_open=True)))
    min_verdicts: int = attrs.field(default=10, validator=_at_least(1))
    max_age_days: float | None = attrs.field(default=None, validator=_positive)
    max_data_age_days: float | None = attrs.field(default=None, validator=_positive)
    alarm_rate_ratio: float | None = attrs.field(default=None, validator=_above_one)
    recent_days: float | None = attrs.field(default=None, validator=_positive)
    recent_rows: int | None = attrs.field(default=None, validator=_at_least(10))
    cooldown_days: float | None = attrs.field(default=None, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.recent_days is not None and self.recent_rows is not None:
            raise ConfigError("recent_days, recent_rows: give one of them, not both")

    def set_any(self) -> bool:
        return any(v is not None for v in (self.drifted_features, self.new_verdicts,
                                           self.false_alarm_rate, self.max_age_days,
                                           self.max_data_age_days, self.alarm_rate_ratio))

    def recent_set(self) -> bool:
        """Whether the data triggers judge only the newest rows of the file."""
        return self.recent_days is not None or self.recent_rows is not None


@attrs.frozen
class WindowTable:
    """``[window]``: the rows a challenger is trained and compared on."""

    last_days: float | None = attrs.field(default=None, validator=_positive)
    last_rows: int | None = attrs.field(default=None, validator=_at_least(10))
    include_training_data: bool = False
    since_change: bool = False
    min_rows: int | None = attrs.field(default=None, validator=_at_least(10))
    holdout: float = attrs.field(default=0.3, validator=_share(low_open=True, high_open=True))

    def __attrs_post_init__(self) -> None:
        if self.last_days is not None and self.last_rows is not None:
            raise ConfigError("last_days, last_rows: give one of them, not both")


@attrs.frozen
class RetrainTable:
    """``[retrain]``: how the challenger is trained."""

    mode: str = attrs.field(default="refit", validator=_choice(*MODES))
    config: str | None = None


@attrs.frozen
class DecisionTable:
    """``[decision]``: the rule that decides the A/B comparison, and its parameters."""

    rule: str = "confidently_better"
    options: Mapping[str, Any] = attrs.field(factory=dict)
    key_metric: str | None = attrs.field(default=None, validator=_choice(None, *KEY_METRICS))
    bootstrap: int = attrs.field(default=2000, validator=_at_least(100))
    seed: int = 0
    reevaluate: bool = False


_TABLES: dict[str, type] = {
    "champion": ChampionTable,
    "data": DataTable,
    "triggers": TriggersTable,
    "window": WindowTable,
    "retrain": RetrainTable,
    "decision": DecisionTable,
}
_REQUIRED = ("champion", "data", "triggers")
#: (table, key) pairs holding a path; in a policy file they are relative to the file.
_PATHS = (("champion", "store"), ("data", "path"), ("retrain", "config"))


@attrs.frozen
class RetrainPolicy:
    """A retraining policy (see the module docstring); build it with :meth:`from_toml` or
    :meth:`from_dict`."""

    champion: ChampionTable
    data: DataTable
    triggers: TriggersTable
    window: WindowTable = attrs.field(factory=WindowTable)
    retrain: RetrainTable = attrs.field(factory=RetrainTable)
    decision: DecisionTable = attrs.field(factory=DecisionTable)
    source: str | None = attrs.field(default=None, eq=False)

    @classmethod
    def from_toml(cls, path: str | Path) -> RetrainPolicy:
        """Read a policy file; relative paths in it are relative to the file.

        :raises ConfigError: naming the file, the table and the key at fault.
        """
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: policy file does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read the policy: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from None
        for table, key in _PATHS:
            section = data.get(table)
            if isinstance(section, dict) and isinstance(section.get(key), str):
                value = os.path.expanduser(section[key])
                if not os.path.isabs(value):
                    section[key] = os.path.normpath(os.path.join(p.parent, value))
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> RetrainPolicy:
        """Structure a mapping shaped like the policy file.

        :raises ConfigError: for an unknown table or key, a value out of range, a missing
            table, or no trigger set.
        """
        where = source or "<policy>"
        unknown = sorted(set(data) - set(_TABLES))
        if unknown:
            raise ConfigError(
                f"{where}: unknown table '{unknown[0]}'{_did_you_mean(unknown[0], _TABLES)}; "
                f"accepted tables: {', '.join(_TABLES)}"
            )
        missing = [t for t in _REQUIRED if t not in data]
        if missing:
            raise ConfigError(f"{where}: [{missing[0]}] is required (tables needed: "
                              f"{', '.join(_REQUIRED)})")
        tables: dict[str, Any] = {}
        for name, value in data.items():
            cls_ = _TABLES[name]
            table = _expect_table(value, name, where)
            _check_fields(cls_, table, name, where)
            try:
                tables[name] = cls_(**table)
            except TypeError as exc:  # a required key left out
                raise ConfigError(f"{where}: [{name}]: {exc}") from None
            except ConfigError as exc:
                raise ConfigError(f"{where}: {name}.{exc}") from None
        if not tables["triggers"].set_any():
            raise ConfigError(
                f"{where}: [triggers] sets none of drifted_features, new_verdicts, "
                "false_alarm_rate, max_age_days, max_data_age_days, alarm_rate_ratio: the "
                "policy could never retrain"
            )
        if tables.get("window", WindowTable()).since_change and not tables[
                "triggers"].recent_set():
            raise ConfigError(
                f"{where}: window.since_change compares the window's periods with the newest "
                "one: set triggers.recent_days or triggers.recent_rows (the period)"
            )
        return cls(**tables, source=source)

    def to_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self, filter=lambda a, v: a.name != "source",
                           value_serializer=lambda _i, _a, v: dict(v) if isinstance(v, Mapping)
                           else v)
        return {t: {k: v for k, v in table.items() if v is not None} for t, table in out.items()}

    def digest(self) -> str:
        """SHA-256 of the policy's canonical JSON: part of what makes a run the same run."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def check(self, manifest: Mapping[str, Any], registry: Any) -> None:
        """Refuse what can never work with this champion, before any data is read.

        :raises ConfigError: a drift trigger on more features than the champion has; an
            alarm-rate trigger for a champion without test metrics; an unknown decision rule
            or parameters it refuses; ``update`` or ``tune`` without what they need.
        """
        where = self.source or "<policy>"
        n = len(manifest.get("input_features", ()))
        k = self.triggers.drifted_features
        if k is not None and k > n:
            raise ConfigError(
                f"{where}: triggers.drifted_features = {k}, but the champion has {n} input "
                f"feature(s): the trigger could never fire"
            )
        if self.triggers.max_data_age_days is not None and EVALUATION_FILE not in manifest.get(
                "files", {}):
            raise ConfigError(
                f"{where}: triggers.max_data_age_days measures from the newest row the champion "
                "was tested on, and it keeps no test rows (evaluation.npz); use max_age_days"
            )
        if self.triggers.alarm_rate_ratio is not None and not isinstance(
                manifest.get("metrics", {}).get("flagged_share"), (int, float)):
            raise ConfigError(
                f"{where}: triggers.alarm_rate_ratio compares the champion's alarm rate with "
                "its flagged share on its own test rows, and its manifest has none (trained "
                "without a test split?)"
            )
        if not registry.has("decision_rule", self.decision.rule):
            names = registry.names("decision_rule")
            raise ConfigError(
                f"{where}: decision.rule: unknown rule '{self.decision.rule}'"
                f"{_did_you_mean(self.decision.rule, names)}; available: {', '.join(names)}"
            )
        registry.create("decision_rule", self.decision.rule, dict(self.decision.options),
                        where=f"{where}: decision.options")
        if self.retrain.mode == "tune" and self.retrain.config is None:
            raise ConfigError(f"{where}: retrain.mode = \"tune\" needs retrain.config, a "
                              "pipeline config with a [search] table")
