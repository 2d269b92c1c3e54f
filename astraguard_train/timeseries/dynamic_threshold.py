"""Nonparametric dynamic thresholds on smoothed errors, after telemanom (Hundman et al. 2018).

telemanom looks at a window of recent smoothed errors ``e`` and picks
``epsilon = mean(e) + z * std(e)`` with the ``z`` (from ``z_min`` to ``z_max`` by ``z_step``)
that maximises

    (delta_mean / mean + delta_std / std) / (n_above + n_sequences ** 2)

where ``delta_mean``/``delta_std`` are the drops in mean and standard deviation when the errors
above ``epsilon`` are removed, ``n_above`` counts those errors and ``n_sequences`` their runs.
It then prunes: the maxima of the runs above ``epsilon`` and the largest error below it are
sorted; runs whose maximum does not exceed the next one by at least ``min_percent_decrease``
(``p``) are not anomalies.

What this module does differently, so that a row's flag never changes when later rows arrive:

- **Causal windows.** The threshold of a row is computed from the ``window`` errors that came
  before its block of ``step`` rows (blocks counted from the start of each channel), never from
  the row itself or later rows. The window starts filled with the tail of the channel's
  training errors (``history`` of them), so the first scored rows already have a reference;
  until a window is full its statistics use the errors it has, and a block with no error
  before it gets the floor.
- **No anomaly in a window.** When no ``z`` qualifies, epsilon is the window's largest error
  (telemanom falls back to ``mean + z_max * std``).
- **Pruning as a level.** A run at the edge of the window survives telemanom's pruning when its
  maximum is at least ``1 / (1 - p)`` times the largest non-anomalous error. Here each row's
  threshold is ``max(epsilon, largest error below epsilon / (1 - p), floor)``, so a row is
  flagged only when its error clears both.
- **Carried state.** :meth:`DynamicRule.apply_stream` continues each channel's window and
  block count from a state, so a stream thresholded in chunks gets the thresholds it gets
  whole (the rule keeps the
  :class:`~astraguard_train.plugins.contracts.StreamingRule` contract).
- **A floor.** ``floor = max(min_threshold, floor_factor * q)`` where ``q`` is the
  ``floor_quantile`` of the training errors: channels that are constant (or nearly) in training
  do not get a zero threshold that flags every wiggle.
- **Floors taught by verdicts** (``verdict_floor = true``). :meth:`DynamicRule.learn_verdicts`
  takes the peak errors of alarms an operator called false (errors that are normal for this
  channel) and of true alarms and labelled events. As in the pruning, a level must clear the
  largest normal error by ``p``: the floor rises to ``peak / (1 - p)`` for the highest
  false-alarm peak whose level stays below every known event's peak, so no judged event
  would be pruned by it.
- Not implemented: telemanom's inverted pass (unusually low errors), and its rule that at most
  five sequences may be chosen per window (the ``n_sequences ** 2`` penalty is kept).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..data.frame import Frame
from ..errors import ConfigError
from ..plugins.contracts import State
from .carry import segments


def z_grid(z_min: float, z_max: float, z_step: float) -> np.ndarray:
    """The candidate ``z`` values, ``z_min`` to ``z_max`` inclusive."""
    return np.arange(z_min, z_max + z_step / 2, z_step)


def choose_epsilons(windows: np.ndarray, z_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """telemanom's epsilon for each row of ``windows`` (shape ``(n_windows, w)``).

    NaN entries (leading padding of a window not yet full) are ignored. Returns
    ``(epsilon, max_normal)`` per window: the chosen threshold, and the largest error at or
    below it. A window where no ``z`` qualifies holds no anomaly: its epsilon is its largest
    error. A window without any error gets NaN for both.
    """
    e = np.asarray(windows, dtype=np.float64)
    present = ~np.isnan(e)
    n = present.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(present, e, 0.0).sum(axis=1, keepdims=True) / n
        std = np.sqrt(np.where(present, (e - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / n)
    eps = mean + std * z_values[None, :]  # (n, z)
    largest = np.where(present, e, -np.inf).max(axis=1)
    # Epsilon grows with z, so only the z whose epsilon is below the window's largest error
    # leave an error above it; the others never qualify. Each window is scored on those z
    # alone, windows grouped by how many they have: most (no anomaly) have none.
    reach = (eps < largest[:, None]).sum(axis=1)
    score = np.full(eps.shape, -np.inf)
    for k in np.unique(reach[reach > 0]):
        rows = np.flatnonzero(reach == k)
        # at least two z: numpy sums a lone column pairwise along the window rather than in
        # window order as it sums several (a score's last bits could differ)
        cols = min(max(int(k), 2), z_values.size)
        score[rows, :cols] = _scores(e[rows], present[rows], n[rows], mean[rows], std[rows],
                                     eps[rows, :cols])
    best = np.argmax(score, axis=1)
    has = (score > -np.inf).any(axis=1)
    epsilon = np.where(has, mean[:, 0] + z_values[best] * std[:, 0], largest)
    max_normal = np.where(e <= epsilon[:, None], e, -np.inf).max(axis=1)
    empty = n[:, 0] == 0
    epsilon[empty] = np.nan
    return epsilon, np.where(empty, np.nan, np.maximum(max_normal, 0.0))


def _scores(
    e: np.ndarray, present: np.ndarray, n: np.ndarray, mean: np.ndarray, std: np.ndarray,
    eps: np.ndarray,
) -> np.ndarray:
    """telemanom's score of each epsilon of ``eps`` (shape ``(n_windows, z)``) for the
    windows ``e`` (their ``present`` errors, ``n`` of them, ``mean`` and ``std``); -inf
    where it does not qualify."""
    below = e[:, :, None] <= eps[:, None, :]  # (n, w, z); NaN is neither below nor above
    above = present[:, :, None] & ~below
    n_below = below.sum(axis=1)
    n_above = n - n_below  # an error at or below epsilon is present (NaN is neither)
    safe = np.maximum(n_below, 1)
    m_below = np.where(below, e[:, :, None], 0.0).sum(axis=1) / safe
    sq_below = np.where(below, (e[:, :, None] - m_below[:, None, :]) ** 2, 0.0).sum(axis=1)
    s_below = np.sqrt(sq_below / safe)
    # runs above epsilon: count rising edges along the window
    starts = above[:, 0, :].astype(np.int64) + (above[:, 1:, :] & ~above[:, :-1, :]).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = (mean - m_below) / mean + (std - s_below) / std
        score = gain / (n_above + starts**2)
    valid = (n_above > 0) & np.isfinite(score) & (n_above < n / 2)
    return np.where(valid, score, -np.inf)


class DynamicRule:
    """A fitted per-row threshold: ``apply(scores, frame)`` returns each row's threshold.

    :param history: the last training errors each channel's window starts with.
    :param value: the floor, used as the threshold in summaries.
    :param window: errors per window; ``step``: rows per block sharing one threshold.
    :param z_values: the ``z`` grid; ``min_percent_decrease``: the pruning parameter ``p``.
    :param keep: how many training errors the history holds at most (default ``window``),
        when :meth:`absorb` takes in new ones.
    :param normal_peaks: peak errors of alarms judged false; ``event_peaks``: of alarms judged
        true and of labelled events (:meth:`learn_verdicts`). ``value`` is then the floor they
        teach, never below the strategy's floor (``base``).
    :param verdict_floor: True: the false alarms' peaks raise the floor; False (the default)
        keeps it at ``base`` (the verdicts are still recorded).
    """

    def __init__(
        self,
        history: np.ndarray,
        value: float,
        window: int,
        step: int,
        z_values: np.ndarray,
        min_percent_decrease: float,
        keep: int | None = None,
        normal_peaks: Any = (),
        event_peaks: Any = (),
        verdict_floor: bool = False,
    ) -> None:
        self.history = np.asarray(history, dtype=np.float64)
        self.keep = window if keep is None else keep
        self.base = float(value)
        self.normal_peaks = np.asarray(normal_peaks, dtype=np.float64)
        self.event_peaks = np.asarray(event_peaks, dtype=np.float64)
        self.verdict_floor = verdict_floor
        self.value = taught_floor(
            self.base, self.normal_peaks if verdict_floor else self.normal_peaks[:0],
            self.event_peaks, min_percent_decrease,
        )
        self.window = window
        self.step = step
        self.z_values = z_values
        self.min_percent_decrease = min_percent_decrease

    def __float__(self) -> float:
        return self.value

    def apply(self, scores: np.ndarray, frame: Frame) -> np.ndarray:
        """Return the threshold of each row of ``scores`` (aligned with ``frame``'s rows).

        Each channel of ``frame`` is treated as its own stream, in time order, starting with
        the training errors' tail.
        """
        return self.apply_stream(scores, frame, self.init_state())[0]

    def absorb(self, scores: np.ndarray, frame: Frame) -> DynamicRule:
        """A rule whose history is this one's followed by ``scores``, the training errors of
        rows absorbed by an update (those of ``frame``'s last channel, in time order, as
        :meth:`DynamicThreshold.choose` takes them); its last ``keep`` errors are kept.

        The floor stays as chosen at training: with ``floor_factor = 0`` (the default) it
        does not depend on the training errors, otherwise it is the parent's.
        """
        keep = self.__dict__.get("keep", self.window)  # rules pickled before ``keep`` existed
        both = np.concatenate([self.history, _channel_tail(np.asarray(scores), frame, keep)])
        history = both[max(0, both.size - keep) :] if keep else both[:0]
        return self._evolve(history=history, keep=keep)

    def learn_verdicts(self, normal_peaks: np.ndarray, event_peaks: np.ndarray) -> DynamicRule:
        """A rule that also knows these verdicts: the peak errors of alarms judged false
        (``normal_peaks``) and of true alarms and labelled events (``event_peaks``), added to
        those it knew. Its floor (``value``) is :func:`taught_floor` of all of them."""
        normal, events = self._verdict_peaks()
        return self._evolve(
            normal_peaks=np.concatenate([normal, _finite(normal_peaks)]),
            event_peaks=np.concatenate([events, _finite(event_peaks)]),
        )

    def _verdict_peaks(self) -> tuple[np.ndarray, np.ndarray]:
        # rules pickled before verdicts were learned have none
        empty = np.zeros(0)
        return self.__dict__.get("normal_peaks", empty), self.__dict__.get("event_peaks", empty)

    def _evolve(self, **changes: Any) -> DynamicRule:
        """A copy with ``changes`` (constructor arguments) applied; ``self`` is unchanged."""
        normal, events = self._verdict_peaks()
        args: dict[str, Any] = {
            "history": self.history, "value": self.__dict__.get("base", self.value),
            "window": self.window, "step": self.step, "z_values": self.z_values,
            "min_percent_decrease": self.min_percent_decrease,
            "keep": self.__dict__.get("keep", self.window), "normal_peaks": normal,
            "event_peaks": events, "verdict_floor": self.__dict__.get("verdict_floor", False),
        }
        return DynamicRule(**{**args, **changes})

    def init_state(self) -> State:
        """No channel seen yet: each starts from the training errors' tail."""
        return {}

    def apply_stream(
        self, scores: np.ndarray, frame: Frame, state: State | None
    ) -> tuple[np.ndarray, State]:
        """Thresholds for the next chunk of a stream, continuing ``state`` (None or
        :meth:`init_state`: the stream's start); bit for bit those of the whole stream; the
        given state is not modified.

        The state carries, per channel, the last ``window`` errors (the window of the next
        block), the rows seen (where the current block of ``step`` rows stands), the current
        block's threshold, and ``partial_rows``: how many of its rows so far had a threshold
        from a window not yet full.
        """
        scores = np.asarray(scores, dtype=np.float64)
        out = np.empty_like(scores)
        after = dict(state or {})
        for key, rows in segments(frame):
            out[rows], after[key] = self._stream(scores[rows], after.get(key))
        return out, after

    def _start(self) -> State:
        """A channel's state before its first row: the window holds the training tail."""
        h = self.history.size
        window = self.history[-self.window :]
        if h < self.window:  # windows not yet full: NaN padding, ignored by the statistics
            window = np.concatenate((np.full(self.window - h, np.nan), window))
        return {"window": window, "seen": 0, "level": self.value, "level_partial": h == 0,
                "partial_rows": 0}

    def _stream(self, errors: np.ndarray, state: State | None) -> tuple[np.ndarray, State]:
        state = state or self._start()
        n = errors.size
        stream = np.concatenate((state["window"], errors))
        # rows left in the block under way share its threshold; new blocks start after them
        first = -state["seen"] % self.step
        block_starts = np.arange(min(first, n), n, self.step)
        # window for a block = the `window` errors just before it
        windows = sliding_window_view(stream, self.window)[block_starts]
        # a few windows at a time bounds the (windows x window x z) work arrays
        chunk = max(1, 400_000 // (self.window * self.z_values.size))
        picked = [
            choose_epsilons(windows[i : i + chunk], self.z_values)
            for i in range(0, len(windows), chunk)
        ]
        eps = np.concatenate([[state["level"]], *[p[0] for p in picked]])
        max_normal = np.concatenate([[np.nan], *[p[1] for p in picked]])
        level = np.maximum(eps, max_normal / (1.0 - self.min_percent_decrease))
        level[0] = state["level"]
        level = np.fmax(level, self.value)  # no reference yet (NaN): the floor applies
        partial = np.concatenate([[state["level_partial"]], np.isnan(windows).any(axis=1)])
        sizes = np.diff(np.concatenate(([0], block_starts, [n])))
        out = np.repeat(level, sizes)
        after: State = {
            "window": stream[-self.window :],
            "seen": state["seen"] + n,
            "level": float(level[-1]),
            "level_partial": bool(partial[-1]),
            "partial_rows": state["partial_rows"] + int(np.repeat(partial, sizes).sum()),
        }
        return out, after


class DynamicThreshold:
    """telemanom-style nonparametric dynamic threshold, causal and per channel.

    :param window: how many past errors each threshold looks at (telemanom: 30 batches of 70).
    :param step: rows between threshold updates (telemanom's batch size).
    :param z_min: smallest ``z`` tried in ``epsilon = mean + z * std``.
    :param z_max: largest ``z`` tried (and the fallback when no ``z`` separates anything).
    :param z_step: spacing of the ``z`` grid.
    :param min_percent_decrease: telemanom's pruning parameter ``p``.
    :param floor_quantile: quantile of the training errors the floor is built on.
    :param floor_factor: the floor is this many times that quantile ...
    :param min_threshold: ... and never below this absolute value (score units).
    :param history: how many of the channel's last training errors a scored stream's window
        starts with (default: ``window``; 0 = the stream's own errors only, as telemanom).
    :param verdict_floor: True: an update's false-alarm verdicts raise the channel's floor
        (:func:`taught_floor`), so alarms no higher than a judged false one stop recurring,
        and so would an event no higher than it. False (the default): the floor stays as
        chosen here; verdicts on true alarms still keep their errors out of the history.
    """

    def __init__(
        self,
        window: int = 2100,
        step: int = 70,
        z_min: float = 2.5,
        z_max: float = 12.0,
        z_step: float = 0.5,
        min_percent_decrease: float = 0.13,
        floor_quantile: float = 1.0,
        floor_factor: float = 0.0,
        min_threshold: float = 0.05,
        history: int | None = None,
        verdict_floor: bool = False,
    ) -> None:
        self.window = window
        self.step = step
        self.z_min = z_min
        self.z_max = z_max
        self.z_step = z_step
        self.min_percent_decrease = min_percent_decrease
        self.floor_quantile = floor_quantile
        self.floor_factor = floor_factor
        self.min_threshold = min_threshold
        self.history = history
        self.verdict_floor = verdict_floor

    def _check(self) -> None:
        for key in ("window", "step"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"threshold.{key}: must be a positive integer, got {value!r}")
        if not 0 < self.z_min <= self.z_max or self.z_step <= 0:
            raise ConfigError(
                "threshold.z_min/z_max/z_step: need 0 < z_min <= z_max and z_step > 0, got "
                f"{self.z_min}, {self.z_max}, {self.z_step}"
            )
        if not 0.0 <= self.min_percent_decrease < 1.0:
            raise ConfigError(
                "threshold.min_percent_decrease: must be in [0, 1), got "
                f"{self.min_percent_decrease}"
            )
        if not 0.0 <= self.floor_quantile <= 1.0:
            raise ConfigError(
                f"threshold.floor_quantile: must be in [0, 1], got {self.floor_quantile}"
            )
        if self.history is not None and (
            isinstance(self.history, bool) or not isinstance(self.history, int) or self.history < 0
        ):
            raise ConfigError(f"threshold.history: must be an integer >= 0, got {self.history!r}")
        if not isinstance(self.verdict_floor, bool):
            raise ConfigError(f"threshold.verdict_floor: expected true or false, got "
                              f"{self.verdict_floor!r}")
        if self.floor_factor < 0 or self.min_threshold < 0:
            raise ConfigError("threshold.floor_factor and threshold.min_threshold must be >= 0")

    def choose(self, context: Any) -> DynamicRule:
        """Return a :class:`DynamicRule` primed with the chain's training errors.

        :raises ConfigError: naming ``threshold.<param>`` for invalid parameters.
        """
        self._check()
        train = np.asarray(context.train_scores, dtype=np.float64)
        train = train[np.isfinite(train)]
        q = float(np.quantile(train, self.floor_quantile)) if train.size else 0.0
        floor = max(self.min_threshold, self.floor_factor * q)
        keep = self.window if self.history is None else min(self.history, self.window)
        history = _channel_tail(train, context.train_frame, keep) if keep else train[:0]
        self.info_ = {"floor": floor, "training_error_quantile": q}
        return DynamicRule(
            history,
            floor,
            self.window,
            self.step,
            z_grid(self.z_min, self.z_max, self.z_step),
            self.min_percent_decrease,
            keep,
            verdict_floor=self.verdict_floor,
        )


def taught_floor(
    base: float, normal_peaks: np.ndarray, event_peaks: np.ndarray, min_percent_decrease: float
) -> float:
    """The floor that verdicts teach a channel: ``base``, raised to ``peak / (1 - p)`` for the
    highest false-alarm peak whose level stays below the lowest event peak (a level at or
    above an event's peak would hide that event); ``base`` when none qualifies."""
    levels = np.asarray(normal_peaks, dtype=np.float64) / (1.0 - min_percent_decrease)
    events = np.asarray(event_peaks, dtype=np.float64)
    if events.size:
        levels = levels[levels < events.min()]
    return max(float(base), float(levels.max())) if levels.size else float(base)


def _finite(values: Any) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def _channel_tail(scores: np.ndarray, frame: Frame | None, n: int) -> np.ndarray:
    """The last ``n`` training errors in time order (of the last channel when several)."""
    if frame is None or frame.n_rows != scores.size:
        return scores[-n:]
    order, bounds = frame.channel_segments()
    return scores[order[bounds[-2] : bounds[-1]]][-n:]
