"""``retrain``: check a policy's triggers, train a challenger, A/B it against the champion on
rows neither was trained on, and promote it only when the decision rule says so.

Safe to run from cron. Every step is recorded in ``OUTPUT/NAME/retrain.jsonl`` (one JSON object
per line, appended and synced) under a *run key*, the SHA-256 of the policy and of the new
data's content, with the champion it was made for. A rerun with the same inputs, while the
champion is still that version or the one the run promoted, reads the log and finishes what is
missing instead of starting again:

- a ``decision`` line for the key: the decision stands; a promotion it called for and that a
  kill interrupted is made now; nothing is trained;
- a ``challenger`` line: that version is reused, not trained again;
- neither: the challenger is trained. An identical bundle already in the store (the same
  config and training rows, from a run killed before it logged) is found by the store's
  duplicate check and reused.

Bundles are written atomically and the champion pointer moves only after the challenger
verifies (see :mod:`astraguard_train.bundle.registry`), so a kill at any point leaves the
champion readable, and a half-trained challenger is never promoted: it does not exist.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..bundle import registry as model_registry
from ..bundle.store import resolve
from ..config import PipelineConfig
from ..data.frame import Frame
from ..errors import DataError
from ..training.result import RunResult
from .ab import ab_test
from .policy import RetrainPolicy

LOG = "retrain.jsonl"
#: Who the promotion log names for promotions made by this module.
PROMOTER = "astraguard-train retrain"


@attrs.frozen
class Trigger:
    """One trigger the policy set: whether it fired, and the figures that say so."""

    name: str
    fired: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class RetrainOutcome:
    """What one ``retrain`` did. ``action`` is ``none`` (no trigger fired), ``promote``,
    ``keep`` or ``inconclusive``; ``resumed`` says it was read from an earlier run's log."""

    key: str
    action: str
    reasons: tuple[str, ...]
    triggers: tuple[Trigger, ...]
    champion: int
    challenger: int | None = None
    comparison: dict[str, Any] | None = None
    resumed: bool = False

    @property
    def promoted(self) -> bool:
        return self.action == "promote"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "action": self.action, "reasons": list(self.reasons),
            "triggers": [t.to_dict() for t in self.triggers], "champion": self.champion,
            "challenger": self.challenger, "comparison": self.comparison,
            "resumed": self.resumed,
        }


# -- the log ---------------------------------------------------------------------------------


def _log_lines(store: Path) -> Iterator[dict[str, Any]]:
    try:
        text = (store / LOG).read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    for line in text.splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:  # a last line cut short by a kill
            continue


def _record(store: Path, key: str, step: str, **fields: Any) -> None:
    entry = {"key": key, "step": step, "at": datetime.now(UTC).isoformat(), **fields}
    model_registry.append_line(store / LOG, json.dumps(entry, sort_keys=True, default=str))


def history(store: str | Path) -> list[dict[str, Any]]:
    """Every complete line of the store's retraining log, oldest first."""
    return list(_log_lines(Path(store)))


# -- inputs ----------------------------------------------------------------------------------


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _run_key(policy: RetrainPolicy, data: Path) -> str:
    parts = [policy.digest(), _file_digest(data)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _ours(entry: dict[str, Any], champion: int) -> bool:
    """Whether a logged step of this run key belongs to the champion now in service: it was
    made while that version was champion, or it promoted that version."""
    return entry.get("champion") == champion or (
        entry.get("action") == "promote" and entry.get("challenger") == champion)


def _newest(frame: Frame, days: float | None, rows: int | None, what: str) -> Frame:
    """The newest rows: those of the last ``days`` (data time), or the last ``rows`` of each
    channel; the whole frame when neither is given. ``what`` names the setting in errors."""
    if days is not None:
        if frame.timestamps is None:
            raise DataError(f"{frame.source or 'data'}: {what}_days needs timestamps; "
                            f"use {what}_rows")
        newest = frame.timestamps.max()
        since = newest - np.timedelta64(int(days * 86400e9), "ns")
        return frame.take(frame.timestamps > since)
    if rows is None:
        return frame
    order, bounds = frame.channel_segments()
    keep = np.concatenate([order[max(lo, hi - rows):hi]
                           for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)])
    return frame.take(np.sort(keep))


def _window(frame: Frame, policy: RetrainPolicy) -> Frame:
    """The newest rows the policy retrains on (per channel for ``last_rows``)."""
    return _newest(frame, policy.window.last_days, policy.window.last_rows, "window.last")


def _period_age(frame: Frame, days: float | None, rows: int | None) -> np.ndarray:
    """Per row, how many recent periods (``days`` of data time, or ``rows`` per channel)
    before the newest one it lies in: 0 for the newest period."""
    if days is not None:
        if frame.timestamps is None:
            raise DataError(f"{frame.source or 'data'}: triggers.recent_days needs "
                            "timestamps; use triggers.recent_rows")
        period = np.timedelta64(int(days * 86400e9), "ns")
        return ((frame.timestamps.max() - frame.timestamps) // period).astype(np.int64)
    assert rows is not None
    order, bounds = frame.channel_segments()
    age = np.empty(frame.n_rows, dtype=np.int64)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        age[order[lo:hi]] = np.arange(hi - lo)[::-1] // rows
    return age


def _since_change(frame: Frame, policy: RetrainPolicy) -> tuple[Frame, str]:
    """The window from where the data last changed, and the sentence that says where.

    Going back from the newest recent period, each earlier period is compared with it (PSI
    and KS with the drift trigger's thresholds, the newest period as the reference); the
    first one on which at least ``drifted_features`` (default 1) features drifted ends the
    window: the challenger learns the behaviour of now, not a mix with what came before."""
    from ..bundle.drift import DriftThresholds, check_drift
    from ..bundle.profile import profile_matrix, sample_rows

    t = policy.triggers
    age = _period_age(frame, t.recent_days, t.recent_rows)
    newest = frame.take(age == 0)
    reference = profile_matrix(newest.X, newest.columns)
    thresholds = DriftThresholds(psi_threshold=t.psi_threshold, ks_alpha=t.ks_alpha)
    need = t.drifted_features or 1
    for p in range(1, int(age.max(initial=0)) + 1):
        older = age == p
        if not older.any():  # a gap in the data: nothing to compare, look further back
            continue
        report = check_drift(reference, sample_rows(newest.X), [frame.take(older)],
                             thresholds=thresholds)
        if len(report.drifted) >= need:
            kept = frame.take(age < p)
            return kept, (f"window since the last change: {p} recent period(s), "
                          f"{kept.n_rows} row(s); the period before drifted from the newest "
                          f"on {', '.join(report.drifted)}")
    return frame, (f"window since the last change: no earlier period drifted from the newest; "
                   f"the whole window, {frame.n_rows} row(s)")


def _holdout(frame: Frame, share: float) -> tuple[Frame, Frame]:
    """``(train, holdout)``: the latest ``share`` of each channel's rows is held out."""
    order, bounds = frame.channel_segments()
    held = np.zeros(frame.n_rows, dtype=bool)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        cut = hi - int(round((hi - lo) * share))
        held[order[cut:hi]] = True
    return frame.take(~held), frame.take(held)


def _without_true_alarms(frame: Frame, store: Path) -> tuple[Frame, str | None]:
    """``frame`` without the rows operators said are anomalous: a true-alarm verdict or a
    labelled interval in the store's feedback (about any version: an anomaly stays one when
    the champion changes), joined by channel and time range. A challenger trained on them would
    learn the anomaly as normal. Also the sentence that says how many, or None for none."""
    from ..feedback.labels import covered
    from ..feedback.store import FeedbackStore

    records = FeedbackStore(store).verdicts(kinds=("verdict", "interval"))
    if frame.timestamps is None:  # records by row position name rows of another file
        return frame, None
    anomalous = np.zeros(frame.n_rows, dtype=bool)
    for i in np.flatnonzero(records.labels == 1):
        if not np.isnat(records.start[i]):
            anomalous |= covered(frame, records, int(i))
    n = int(anomalous.sum())
    if n == 0:
        return frame, None
    return frame.take(~anomalous), (
        f"{n} row(s) under operators' true-alarm verdicts or labelled intervals left out of "
        "the challenger's training rows")


# -- triggers --------------------------------------------------------------------------------


def _verdicts(store: Path, version: int) -> Any:
    """The operators' verdicts on ``version``'s alarms (an empty store has none)."""
    from ..feedback.store import FeedbackStore

    return FeedbackStore(store).verdicts(version=version, kinds=("verdict",))


def check_triggers(
    policy: RetrainPolicy, bundle: Any, frame: Frame, now: datetime | None = None
) -> tuple[Trigger, ...]:
    """Evaluate every trigger the policy set against the champion, the new data (its newest
    ``recent_days`` or ``recent_rows`` when set) and the operators' verdicts on the champion's
    alarms."""
    t = policy.triggers
    out = []
    recent = _newest(frame, t.recent_days, t.recent_rows, "triggers.recent")
    which = ("the data" if not t.recent_set() else
             f"the newest {t.recent_days:g} day(s)" if t.recent_days is not None else
             f"the newest {t.recent_rows} row(s) per channel")
    if t.new_verdicts is not None or t.false_alarm_rate is not None:
        verdicts = _verdicts(bundle.path.parent, int(bundle.path.name)).verdict
        n = int(verdicts.size)
        if t.new_verdicts is not None:
            out.append(Trigger("new_verdicts", n >= t.new_verdicts, (
                f"{n} verdict(s) on version {bundle.path.name}'s alarms; the trigger needs "
                f"{t.new_verdicts}")))
        if t.false_alarm_rate is not None:
            false = int((verdicts == "false_alarm").sum())
            share = false / n if n else 0.0
            enough = n >= t.min_verdicts
            out.append(Trigger("false_alarm_rate", enough and share > t.false_alarm_rate, (
                f"{false} of {n} verdict(s) say false alarm ({share:.1%}); the budget is "
                f"{t.false_alarm_rate:.1%}" + ("" if enough else
                                               f", judged from at least {t.min_verdicts}"))))
    if t.drifted_features is not None:
        from ..bundle.drift import DriftThresholds

        report = bundle.drift(recent, thresholds=DriftThresholds(psi_threshold=t.psi_threshold,
                                                                 ks_alpha=t.ks_alpha))
        drifted = report.drifted
        fired = len(drifted) >= t.drifted_features
        out.append(Trigger("drifted_features", fired, (
            f"{len(drifted)} input feature(s) drifted ({', '.join(drifted) or 'none'}) on "
            f"{which}, {recent.n_rows} row(s); the "
            f"trigger needs {t.drifted_features} (PSI >= {t.psi_threshold} or KS p < "
            f"{t.ks_alpha})")))
    if t.alarm_rate_ratio is not None:
        out.append(_alarm_rate_trigger(bundle, recent, t.alarm_rate_ratio, which))
    if t.max_data_age_days is not None:
        out.append(_data_age_trigger(bundle, frame, t.max_data_age_days))
    if t.max_age_days is not None:
        created = datetime.fromisoformat(bundle.manifest["created"])
        age = ((now or datetime.now(UTC)) - created).total_seconds() / 86400
        out.append(Trigger("max_age_days", age > t.max_age_days, (
            f"the champion is {age:.1f} days old; the trigger fires above {t.max_age_days}")))
    return tuple(out)


def _reference_alarm_rate(bundle: Any) -> tuple[float, str]:
    """The flagged share the champion was accepted with, and where it comes from: for a
    version this loop promoted, its alarm rate on the held-out rows of the A/B that promoted
    it; else its flagged share on its own test rows (``metrics.flagged_share``)."""
    version = int(bundle.path.name)
    promoted = next((e for e in reversed(history(bundle.path.parent))
                     if e.get("step") == "decision" and e.get("action") == "promote"
                     and e.get("challenger") == version and e.get("comparison")), None)
    if promoted is not None:
        c = promoted["comparison"]
        return float(c["challenger"]["alarm_rate"]), (
            f"on the {c['n_rows']} held-out row(s) of the A/B that promoted it")
    return float(bundle.manifest["metrics"]["flagged_share"]), "on its own test rows"


def _alarm_rate_trigger(bundle: Any, recent: Frame, ratio: float, which: str) -> Trigger:
    """Whether the champion floods or has gone quiet: its flagged share on the recent rows is
    above ``ratio`` times, or below ``1 / ratio`` of, the share it was accepted with."""
    reference, where = _reference_alarm_rate(bundle)
    flags = np.asarray(bundle.score(recent).flags, dtype=bool)
    rate = float(flags.mean()) if flags.size else 0.0
    low, high = reference / ratio, reference * ratio
    fired = rate > high or rate < low
    return Trigger("alarm_rate_ratio", fired, (
        f"the champion flagged {rate:.2%} of {which}, {flags.size} row(s), "
        f"{'outside' if fired else 'within'} {low:.2%} to {high:.2%} (1/{ratio:g} to {ratio:g} "
        f"times its {reference:.2%} {where})"))


def _last_held(bundle: Any) -> tuple[np.datetime64, int] | None:
    """The newest row of the last A/B comparison this version held as the champion against
    a challenger (``keep``, with figures), and that challenger; None when it held none."""
    version = int(bundle.path.name)
    held = [e for e in history(bundle.path.parent) if e.get("step") == "decision"
            and e.get("action") == "keep" and e.get("champion") == version
            and e.get("comparison") and e.get("compared_end")]
    if not held:
        return None
    last = max(held, key=lambda e: np.datetime64(e["compared_end"]))
    return np.datetime64(last["compared_end"]), int(last["challenger"])


def _data_age_trigger(bundle: Any, frame: Frame, days: float) -> Trigger:
    """Whether the newest row the champion was tested on is more than ``days`` older than
    the data's newest row. Tested on: its kept evaluation (the end of its training data for
    a time split), or the rows of an A/B comparison it held against a challenger, when newer:
    a challenger trained on fresher data that was not better says the champion has not gone
    stale, and training another one at every run would only repeat it. Data time, as
    ``cooldown_days``: a replayed history ages as live data does."""
    from ..bundle.evaluation import load_evaluation

    evaluation = load_evaluation(bundle.path, bundle.manifest)
    end = _data_end(frame)
    if evaluation is None or evaluation.timestamps is None or evaluation.n_rows == 0 or (
            end is None):
        raise DataError(f"triggers.max_data_age_days: version {bundle.path.name} keeps no "
                        "timestamped test rows, or the data has no timestamps; use "
                        "max_age_days (clock time)")
    tested, where = evaluation.timestamps.max(), ""
    held = _last_held(bundle)
    if held is not None and held[0] > tested:
        tested, where = held[0], f" (in the A/B that kept it against version {held[1]})"
    age = (np.datetime64(end) - tested) / np.timedelta64(1, "D")
    return Trigger("max_data_age_days", bool(age > days), (
        f"the champion was tested on rows up to {tested}{where}, {age:.1f} days before the "
        f"data's newest row; the trigger fires above {days}"))


def _fewest_rows(frame: Frame) -> tuple[int, str | None]:
    """The row count of the smallest channel (all rows without channels), and its name."""
    order, bounds = frame.channel_segments()
    sizes = np.diff(bounds)
    if frame.channels is None or sizes.size == 0:
        return frame.n_rows, None
    i = int(np.argmin(sizes))
    return int(sizes[i]), str(frame.channels[order[bounds[i]]])


def _data_end(frame: Frame) -> str | None:
    """The newest timestamp of the data, as text (None without timestamps)."""
    return None if frame.timestamps is None else str(frame.timestamps.max())


def _cooling_down(policy: RetrainPolicy, store: Path, frame: Frame, run_key: str) -> str | None:
    """Why no challenger is trained yet, when the last one (of another run: this run's own
    is resumed) is within ``cooldown_days`` of the data's newest row (data time, so a
    replayed history behaves as live data); else None."""
    days = policy.triggers.cooldown_days
    end = _data_end(frame)
    if days is None or end is None:
        return None
    last = next((e for e in reversed(history(store)) if e.get("step") == "challenger"
                 and e.get("data_end") and e.get("key") != run_key), None)
    if last is None:
        return None
    since = (np.datetime64(end) - np.datetime64(last["data_end"])) / np.timedelta64(1, "D")
    if since >= days:
        return None
    return (f"cooling down: the last challenger (version {last['version']}) was trained on "
            f"data up to {last['data_end']}, {since:.1f} days before this data's newest row; "
            f"triggers.cooldown_days = {days}")


# -- the challenger --------------------------------------------------------------------------


def _challenger_config(policy: RetrainPolicy, bundle: Any, store: Path) -> PipelineConfig:
    if policy.retrain.config is not None:
        config = PipelineConfig.from_toml(policy.retrain.config)
    else:
        config = PipelineConfig.from_dict(bundle.manifest["config"])
    persist = attrs.evolve(config.persist, output=str(store.parent), bundle_name=store.name)
    return config.evolve(persist=persist)


def _train(policy: RetrainPolicy, bundle: Any, store: Path, frame: Frame,
           registry: Any) -> int:
    """Train the challenger on ``frame`` into the store; return its version."""
    from ..training.pipeline import Pipeline

    mode = policy.retrain.mode
    if mode == "update":
        from ..bundle.update import update_bundle
        from ..feedback.labels import update_intervals

        updated = update_bundle(bundle, frame, registry=registry, feedback=update_intervals(
            _verdicts(store, int(bundle.path.name))))
        return int(updated.path.name)
    config = _challenger_config(policy, bundle, store)
    result: RunResult | None
    if mode == "tune":
        from ..selection.tuning import tune

        result = tune(config, data=frame, registry=registry, output=str(store.parent)).run
    else:
        result = Pipeline(config, registry).run(frame, output=str(store.parent))
    if result is None or result.artifact is None:
        raise DataError("the challenger's run wrote no bundle")
    return int(Path(result.artifact).name)


# -- the whole loop --------------------------------------------------------------------------


def _load_policy_frame(policy: RetrainPolicy, bundle: Any) -> Frame:
    loader = bundle.open_loader(policy.data.path, **dict(policy.data.loader_options))
    return bundle.check_frame(loader.load())


def retrain(
    policy: RetrainPolicy | str | Path,
    *,
    registry: Any = None,
    key: Any = None,
    trusted: bool = False,
    now: datetime | None = None,
) -> RetrainOutcome:
    """Run the policy once (see the module docstring) and return what was decided.

    :param policy: a :class:`RetrainPolicy` or the path of its TOML file.
    :param key: the public key bundles must be signed with; ``trusted`` as for
        :func:`~astraguard_train.load_bundle`.
    :param now: the time the age trigger measures against (default: now).
    :raises ConfigError: for a policy that cannot work with this champion, before any data is
        read.
    """
    from ..bundle.scoring import load_bundle
    from ..plugins.manager import build_registry

    if not isinstance(policy, RetrainPolicy):
        policy = RetrainPolicy.from_toml(policy)
    registry = registry or build_registry()
    store = Path(policy.champion.store)
    bundle = load_bundle(resolve(store), registry, key=key, trusted=trusted)
    policy.check(bundle.manifest, registry)
    champion = int(bundle.path.name)
    data_path = Path(policy.data.path)
    if not data_path.is_file():
        raise DataError(f"{data_path}: the policy's data file does not exist")
    run_key = _run_key(policy, data_path)
    lines = [e for e in _log_lines(store) if e.get("key") == run_key and _ours(e, champion)]
    done = next((e for e in reversed(lines) if e.get("step") == "decision"), None)
    if done is not None:
        outcome = _outcome_from_log(done, run_key)
        if outcome.promoted and model_registry.champion(store) != outcome.challenger:
            _promote(store, outcome, key)  # a kill came between the decision and the pointer
        return outcome

    frame = _load_policy_frame(policy, bundle)
    triggers = check_triggers(policy, bundle, frame, now)
    fired = [t for t in triggers if t.fired]
    fired_reasons = tuple(f"trigger {t.name}: {t.reason}" for t in fired)
    waiting = _cooling_down(policy, store, frame, run_key)
    shadow = None if waiting is None or not policy.decision.reevaluate else _in_shadow(
        store, champion, frame)
    if waiting is not None and shadow is not None:
        # a challenger in shadow is compared again on every run of its cooldown, whether
        # or not a trigger still fires: the one that trained it did
        version, rows, sentence = shadow
        return _decide(policy, bundle, store, version, rows,
                       (fired_reasons or ("no trigger fired",)) + (waiting, sentence),
                       triggers, run_key, registry, key, trusted)
    if not fired:
        outcome = RetrainOutcome(run_key, "none", ("no trigger fired",), triggers, champion)
        _record(store, run_key, "decision", **_logged(outcome))
        return outcome
    if waiting is not None:
        outcome = RetrainOutcome(run_key, "none", fired_reasons + (waiting,), triggers,
                                 champion)
        _record(store, run_key, "decision", **_logged(outcome))
        return outcome
    window = _window(frame, policy)
    window_reasons: tuple[str, ...] = ()
    if policy.window.since_change:
        window, since = _since_change(window, policy)
        window_reasons = (since,)
    if policy.window.min_rows is not None:
        fewest, channel = _fewest_rows(window)
        if fewest < policy.window.min_rows:
            outcome = RetrainOutcome(run_key, "none", fired_reasons + window_reasons + (
                f"waiting for data: the window holds {fewest} row(s)"
                f"{f' of channel {channel}' if channel else ''}; window.min_rows = "
                f"{policy.window.min_rows}",), triggers, champion)
            _record(store, run_key, "decision", **_logged(outcome))
            return outcome
    train_rows, holdout = _holdout(window, policy.window.holdout)
    if policy.retrain.mode != "update":  # update leaves them out itself (--feedback)
        train_rows, left_out = _without_true_alarms(train_rows, store)
        window_reasons += (left_out,) if left_out else ()
    if policy.window.include_training_data:
        original = PipelineConfig.from_dict(bundle.manifest["config"]).loader
        loaded = registry.create("loader", original.name, original.params).load()
        train_rows = Frame.concat([bundle.check_frame(loaded), train_rows])
    if model_registry.champion(store) is None:
        # the store resolves to its newest version until a champion is marked: mark the one
        # in service now, or the challenger about to be written would take its place
        model_registry.promote(store, champion, key=key, by=PROMOTER,
                               reason="the version in service, marked before a challenger "
                                      "joins the store")
    trained = next((e for e in reversed(lines) if e.get("step") == "challenger"), None)
    if trained is not None:
        challenger = int(trained["version"])
    else:
        challenger = _train(policy, bundle, store, train_rows, registry)
        _record(store, run_key, "challenger", champion=champion, version=challenger,
                rows=train_rows.n_rows, holdout_rows=holdout.n_rows,
                data_end=_data_end(frame), train_end=_data_end(train_rows))
    return _decide(policy, bundle, store, challenger, holdout, fired_reasons + window_reasons,
                   triggers, run_key, registry, key, trusted)


def _decide(policy: RetrainPolicy, bundle: Any, store: Path, challenger: int, rows: Frame,
            reasons: tuple[str, ...], triggers: tuple[Trigger, ...], run_key: str,
            registry: Any, key: Any, trusted: bool) -> RetrainOutcome:
    """A/B ``challenger`` against the champion on ``rows``, record the decision, and promote
    when the rule says so."""
    champion = int(bundle.path.name)
    try:
        result = ab_test(
            bundle, store / str(challenger), rows, labels=_labels(rows, store, champion),
            rule=policy.decision.rule, rule_params=dict(policy.decision.options),
            key_metric=policy.decision.key_metric, n_boot=policy.decision.bootstrap,
            seed=policy.decision.seed, registry=registry, key=key, trusted=trusted,
        )
    except DataError as exc:  # e.g. a channel the challenger never learnt: it cannot serve
        outcome = RetrainOutcome(run_key, "keep", reasons + (
            f"the challenger cannot score the held-out rows the champion scores: {exc}",),
            triggers, champion, challenger)
    else:
        outcome = RetrainOutcome(
            run_key, result.decision.action, reasons + result.decision.reasons,
            triggers, champion, challenger, result.comparison.to_dict(),
        )
    # the newest row both sides were judged on: the data-age trigger measures from it
    compared = {} if outcome.comparison is None else {"compared_end": _data_end(rows)}
    _record(store, run_key, "decision", **_logged(outcome), **compared)
    if outcome.promoted:
        _promote(store, outcome, key)
    return outcome


def _in_shadow(store: Path, champion: int, frame: Frame) -> tuple[int, Frame, str] | None:
    """The last challenger made for ``champion`` when its A/B kept the champion for want of
    evidence (keep or inconclusive, with figures), the rows of ``frame`` newer than its
    training rows, and the sentence that says so; None when there is none to compare again
    or no newer row."""
    log = history(store)
    made = next((e for e in reversed(log) if e.get("step") == "challenger"
                 and e.get("champion") == champion and e.get("train_end")), None)
    if made is None or frame.timestamps is None:
        return None
    decided = next((e for e in reversed(log) if e.get("step") == "decision"
                    and e.get("challenger") == made["version"]
                    and e.get("champion") == champion), None)
    if decided is None or decided.get("action") not in ("keep", "inconclusive") or (
            decided.get("comparison") is None):
        return None
    newer = frame.take(frame.timestamps > np.datetime64(made["train_end"]))
    if newer.n_rows == 0:
        return None
    return made["version"], newer, (
        f"in shadow: challenger version {made['version']}, trained on rows up to "
        f"{made['train_end']}, compared again with the champion on the {newer.n_rows} "
        "row(s) since, which neither was trained on")


def _labels(holdout: Frame, store: Path, champion: int) -> np.ndarray:
    """Labels of the held-out rows, by input position: the data's label column where it has
    one, overridden by the operators' verdicts (and labelled intervals) that cover a row."""
    from ..feedback.labels import feedback_labels
    from ..feedback.store import FeedbackStore

    given = (holdout.labels.astype(np.int8) if holdout.labels is not None
             else np.full(holdout.n_rows, -1, dtype=np.int8))
    judged = feedback_labels(holdout, FeedbackStore(store).verdicts(version=champion))
    out = np.full(int(holdout.index.max(initial=-1)) + 1, -1, dtype=np.int8)
    out[holdout.index] = np.where(judged >= 0, judged, given)
    return out


def _logged(outcome: RetrainOutcome) -> dict[str, Any]:
    return {k: v for k, v in outcome.to_dict().items() if k not in ("key", "resumed")}


def _outcome_from_log(entry: dict[str, Any], run_key: str) -> RetrainOutcome:
    return RetrainOutcome(
        key=run_key, action=entry["action"], reasons=tuple(entry["reasons"]),
        triggers=tuple(Trigger(**t) for t in entry["triggers"]), champion=entry["champion"],
        challenger=entry.get("challenger"), comparison=entry.get("comparison"), resumed=True,
    )


def _promote(store: Path, outcome: RetrainOutcome, key: Any) -> None:
    assert outcome.challenger is not None
    model_registry.promote(store, outcome.challenger, key=key, by=PROMOTER,
                           reason=f"retrain {outcome.key[:12]}: " + "; ".join(outcome.reasons))
    _record(store, outcome.key, "promoted", version=outcome.challenger)

