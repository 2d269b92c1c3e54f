"""Scoring a stream chunk by chunk: :class:`Scorer`, the one code path of every scoring call.

A stream's scores, thresholds and flags are the same bits whether it is scored whole, in
chunks of any size, or in successive calls that save and load the state in between. What
crosses a chunk edge is carried explicitly, per channel, by each component:

- temporal transforms carry the tail of their input rows (``lookback()`` of them; the
  rolling window whole blocks of them) or, for the EWMA, its filter state
  (``transform_stream(frame, state)``);
- a history-using model carries its own state (``score_stream(frame, state)``, as the
  forecast detector's past values and EWMA state), or the tail of its ``lookback()`` rows;
- a per-row threshold rule carries its window (``apply_stream(scores, frame, state)``, as
  the dynamic threshold's recent errors and its place in the current block);
- alarm post-processing holds back the rows whose flag may still change (``settled``), and
  the causal form carries the recent raw flags it looks back on (``context_rows``).

``TrainedDetector.score_frame`` is ``Scorer(detector).score_all(frame)``, so the run's
evaluation, ``BundleDetector.score`` and ``astraguard-train score`` compute alike.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..data.frame import Frame
from ..errors import DataError
from ..explain.base import Rescorer, concat_columns
from ..plugins import contracts
from ..timeseries.carry import State, channel_key, last_rows, segments, stream_with_tail
from .scored import Scored, join_scored

#: Version of the saved state's layout; a file of another version is refused.
STATE_FORMAT = 1


def _partial(counts: dict[str, int], key: str, state: Any) -> None:
    """Add a step's rows scored without a full history (its state's ``partial``)."""
    if isinstance(state, dict) and state.get("partial"):
        counts[key] = counts.get(key, 0) + int(state["partial"])


def _partial_rows(counts: dict[str, int], key: str, before: Any, after: Any) -> None:
    """Add the rows a channel-keyed state's ``partial_rows`` grew by (rows scored without a
    full history: the forecast's window, the dynamic threshold's)."""
    grown = 0
    for channel, entry in (after or {}).items():
        if isinstance(entry, dict) and "partial_rows" in entry:
            old = (before or {}).get(channel) or {}
            grown += int(entry["partial_rows"]) - int(old.get("partial_rows", 0))
    if grown:
        counts[key] = counts.get(key, 0) + grown


def transform_step(step: Any, frame: Frame, state: State | None) -> tuple[Frame, State | None]:
    """Run one transform on the next chunk, continuing its state."""
    if contracts.keeps(step, contracts.StreamingTransform):
        return step.transform_stream(frame, state)
    rows, seconds = contracts.lookback(step)
    if rows <= 0 and seconds <= 0:
        return step.transform(frame), None
    return stream_with_tail(step.transform, frame, state, last_rows(int(rows), float(seconds)))


def model_step(chain: Any, feats: Frame, state: State | None) -> tuple[np.ndarray, State | None]:
    """Score the next chunk's features with the chain's model, continuing its state."""
    if contracts.keeps(chain.model, contracts.StreamingDetector):
        scores, state = chain.model.score_stream(
            feats, state if state is not None else chain.model.init_state())
        return chain.check_scores(np.asarray(scores, dtype=np.float64), feats), state
    rows, seconds = contracts.lookback(chain.model)
    if rows <= 0 and seconds <= 0:
        return chain.score_features(feats), None

    def as_frame(f: Frame) -> Frame:
        return f.with_features(chain.score_features(f)[:, None], ("score",))

    out, state = stream_with_tail(as_frame, feats, state, last_rows(int(rows), float(seconds)))
    return out.X[:, 0], state


def rescorer(chain: Any, before: State | None) -> Rescorer:
    """How an explainer rescores changed features of a chunk of ``chain``: row by row when
    the model needs no history (and is no frame detector), else the whole chunk from the
    model's state ``before`` it."""
    model = chain.model
    if not (contracts.keeps(model, contracts.StreamingDetector)
            or contracts.keeps(model, contracts.FrameDetector)) and (
            contracts.lookback(model) == contracts.NO_HISTORY):
        return Rescorer(score=chain.score_features, stateless=True)
    return Rescorer(score=lambda f: model_step(chain, f, before)[0], stateless=False,
                    state=before)


def partial_key(step: Any) -> str:
    """The count naming a step's rows scored without a full history."""
    return f"rows_scored_with_partial_history_{getattr(step, 'name', type(step).__name__)}"


@attrs.define(eq=False)
class _Pending:
    """Rows scored but not yet handed out, in row order: ``scored`` with the threshold
    crossings as flags, ``out`` the post-processed flags as computed so far, ``decided``
    which of them no later row can change."""

    scored: Scored
    out: np.ndarray
    decided: np.ndarray


class Scorer:
    """Scores one stream chunk by chunk with a :class:`TrainedDetector`, carrying state.

    ::

        scorer = bundle.stream()            # or Scorer(detector)
        for chunk in chunks:
            part = scorer.score(chunk)      # the rows whose results are final
        rest = scorer.flush()               # the stream ended: the rows held back
        scorer.save("state")                # or keep it to continue the stream later

    :param detector: the fitted :class:`TrainedDetector`.
    :param fingerprint: what identifies the detector (a bundle's manifest digest); a saved
        state records it and :meth:`load` refuses a state saved with another.
    :param explain: an :class:`~astraguard_train.explain.request.Explaining`: each chunk's
        flagged (or chosen) rows are explained as they are scored, into
        ``Scored.explanations``.
    """

    def __init__(self, detector: Any, fingerprint: str | None = None,
                 explain: Any = None) -> None:
        self.detector = detector
        self.fingerprint = fingerprint
        self.explain = explain
        self.rows_seen = 0
        #: per group value: the states of the chain's steps (transforms..., model, rule)
        self.groups: dict[Hashable, list[Any]] = {}
        self.context: dict[Hashable, np.ndarray] = {}  # causal post-processing: raw flags
        self.pending: _Pending | None = None

    # -- what can run in parallel -------------------------------------------------------------
    @property
    def stateless(self) -> bool:
        """True when no row depends on another before post-processing, so row chunks may be
        raw-scored in any order (in parallel) with :meth:`raw`."""
        det = self.detector
        # a bundle's lazily read chains know it from their index, so asking reads no file
        known = getattr(getattr(det.chains, "files", None), "stateless", None)
        if known is not None:
            return bool(known)
        for chain in det.chains.values():
            for step in [*chain.transforms, chain.model]:
                streams = contracts.keeps(step, contracts.StreamingTransform) or (
                    contracts.keeps(step, contracts.StreamingDetector))
                if streams or contracts.lookback(step) != contracts.NO_HISTORY:
                    return False
        return not any(contracts.is_rule(t) for t in det.thresholds.values())

    # -- scoring ----------------------------------------------------------------------------
    def score(self, chunk: Frame) -> Scored:
        """Score the stream's next rows; return the rows whose results are now final (rows
        whose alarm may continue are held back until later rows settle them)."""
        return self.decide(self.raw(chunk))

    def flush(self) -> Scored:
        """The stream ended: return the rows held back, with their final flags."""
        pending, self.pending = self.pending, None
        if pending is None:
            return _empty(self.detector)
        s = pending.scored
        return Scored(frame=s.frame, scores=s.scores, flags=pending.out,
                      thresholds=s.thresholds, counts=s.counts, explanations=s.explanations)

    def score_all(self, frame: Frame) -> Scored:
        """Score ``frame`` as (the rest of) the stream, flushed at its end."""
        return join_scored([self.score(frame), self.flush()])

    def raw(self, chunk: Frame) -> Scored:
        """Scores and thresholds of the next chunk, flags before post-processing."""
        det = self.detector
        first = self.rows_seen
        work = attrs.evolve(chunk, index=first + np.arange(chunk.n_rows, dtype=np.int64))
        self.rows_seen += chunk.n_rows
        counts: dict[str, int] = {}
        parts = []
        keys = det._keys(work)
        for key, rows in keys.items():
            # one chain scoring every row (rows in order): the chunk itself, not a copy of it
            part = work if len(keys) == 1 and rows.size == work.n_rows else work.take(rows)
            chain_key = key if key in det.chains else None
            chain = det.chains[chain_key]
            states = self.groups.get(channel_key(key))
            if states is None:
                states = [None] * (len(chain.transforms) + 2)
            before = states[-2]
            feats, scores, states = self._chain(chain, part, states, counts)
            rule = det.thresholds[chain_key]
            if contracts.keeps(rule, contracts.StreamingRule):
                start = states[-1] if states[-1] is not None else rule.init_state()
                thresholds, states[-1] = rule.apply_stream(scores, feats, start)
                _partial_rows(counts, "rows_scored_with_partial_threshold_window", start,
                              states[-1])
            elif contracts.is_rule(rule):
                thresholds = np.asarray(rule.apply(scores, feats), dtype=np.float64)
            else:
                thresholds = np.full(scores.shape, float(rule))
            self.groups[channel_key(key)] = states
            thresholds = np.asarray(thresholds, dtype=np.float64)
            part = _input_rows(part, feats.index)
            explained = None
            if self.explain is not None:
                explained = self.explain.columns(
                    chain_key, chain, feats, scores, thresholds,
                    chunk.index[feats.index - first], rescorer(chain, before))
            parts.append((part, scores, thresholds, explained))
        if len(parts) == 1:
            feats, scores, thresholds, explained = parts[0]
        else:
            feats = Frame.concat([p[0] for p in parts])
            order = np.argsort(feats.index, kind="stable")  # back to input row order
            feats = feats.take(order)
            scores = np.concatenate([p[1] for p in parts])[order]
            thresholds = np.concatenate([p[2] for p in parts])[order]
            explained = concat_columns([p[3] for p in parts], [p[1].size for p in parts])
            if explained is not None:
                explained = {k: v[order] for k, v in explained.items()}
        feats = attrs.evolve(feats, index=chunk.index[feats.index - first])
        return Scored(frame=feats, scores=scores, flags=scores > thresholds,
                      thresholds=thresholds, counts=counts, explanations=explained)

    def _chain(
        self, chain: Any, frame: Frame, states: list[Any], counts: dict[str, int]
    ) -> tuple[Frame, np.ndarray, list[Any]]:
        states = list(states)
        frame = chain.check_input(frame)
        for i, step in enumerate(chain.transforms):
            frame, states[i] = transform_step(step, frame, states[i])
            _partial(counts, partial_key(step), states[i])
        feats = chain.scale(frame)
        before = states[-2]
        scores, states[-2] = model_step(chain, feats, before)
        if contracts.keeps(chain.model, contracts.StreamingDetector):
            _partial_rows(counts, "rows_scored_with_partial_window", before, states[-2])
        else:
            for name, n in contracts.score_counts(chain.model, feats).items():
                counts[name] = counts.get(name, 0) + int(n)
        return feats, scores, states

    def decide(self, raw: Scored) -> Scored:
        """Post-process raw scored rows (the next ones of the stream); return those whose
        flags are final, in row order."""
        post = self.detector.postprocess
        if post is None:
            return raw
        before = self.pending
        combined = raw if before is None else join_scored([before.scored, raw])
        n_new = raw.n_rows
        out = np.concatenate([before.out, np.zeros(n_new, dtype=bool)]) if before else (
            np.zeros(n_new, dtype=bool))
        decided = np.concatenate([before.decided, np.zeros(n_new, dtype=bool)]) if before else (
            np.zeros(n_new, dtype=bool))
        settled = getattr(post, "settled", None)
        undecided = np.flatnonzero(~decided)
        for key, where in segments(combined.frame.take(undecided)):
            open_rows = undecided[where]
            if settled is None:  # a post-processor without streaming support: hold all
                out[open_rows] = post(combined.flags[open_rows], combined.frame.take(open_rows))
                continue
            context = self.context.get(key, np.zeros(0, dtype=bool))
            flags = np.concatenate([context, combined.flags[open_rows]])
            done = post.apply_run(flags)[context.size :]
            out[open_rows] = done
            cut = max(0, settled(flags) - context.size)
            decided[open_rows[:cut]] = True
            keep = post.context_rows
            if keep:
                self.context[key] = flags[max(0, flags.size - keep) :]
        n_final = int(np.argmin(decided)) if not decided.all() else decided.size
        final = slice(0, n_final)
        rest = slice(n_final, decided.size)
        self.pending = _Pending(scored=combined.take(rest), out=out[rest], decided=decided[rest])
        head = combined.take(final)
        return Scored(frame=head.frame, scores=head.scores, flags=out[final],
                      thresholds=head.thresholds, counts=combined.counts,
                      explanations=head.explanations)

    # -- saving -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the state to ``path`` (a ``.npz`` archive of arrays plus a JSON description;
        no pickle), atomically: a reader sees the old state or the new one."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        tree = {
            "format": STATE_FORMAT,
            "fingerprint": self.fingerprint,
            "rows_seen": self.rows_seen,
            "groups": _encode(list(self.groups.items()), arrays),
            "context": _encode(list(self.context.items()), arrays),
            "pending": _encode(None if self.pending is None else {
                "scored": _scored_tree(self.pending.scored),
                "out": self.pending.out,
                "decided": self.pending.decided,
            }, arrays),
        }
        arrays["state.json"] = np.frombuffer(json.dumps(tree).encode("utf-8"), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
        try:
            write: Any = np.savez  # every array by its name; none is an object array
            with os.fdopen(fd, "wb") as fh:
                write(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path, detector: Any, fingerprint: str | None = None) -> Scorer:
        """Read a state written by :meth:`save` for ``detector``.

        :raises DataError: naming the file when it is not a scoring state, was written in
            another format, or was saved with another detector (``fingerprint``).
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
            tree = json.loads(arrays.pop("state.json").tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{path}: not a scoring state file ({exc})") from None
        if tree.get("format") != STATE_FORMAT:
            raise DataError(f"{path}: scoring state format {tree.get('format')!r}; this "
                            f"version reads format {STATE_FORMAT}")
        if tree.get("fingerprint") != fingerprint:
            raise DataError(
                f"{path}: this scoring state was saved with another bundle "
                f"(manifest {str(tree.get('fingerprint'))[:12]}, this one "
                f"{str(fingerprint)[:12]}); score without it to start a new stream"
            )
        scorer = cls(detector, fingerprint)
        scorer.rows_seen = int(tree["rows_seen"])
        scorer.groups = dict(_decode(tree["groups"], arrays))
        scorer.context = dict(_decode(tree["context"], arrays))
        pending = _decode(tree["pending"], arrays)
        if pending is not None:
            scorer.pending = _Pending(scored=_scored_from(pending["scored"]),
                                      out=pending["out"], decided=pending["decided"])
        return scorer


def _input_rows(frame: Frame, index: np.ndarray) -> Frame:
    """The rows of ``frame`` whose ``index`` values are ``index``, in that order: the input
    rows behind a chain's features (which may have dropped warm-up rows)."""
    if index.shape == frame.index.shape and np.array_equal(index, frame.index):
        return frame
    order = np.argsort(frame.index, kind="stable")
    return frame.take(order[np.searchsorted(frame.index, index, sorter=order)])


def _empty(detector: Any) -> Scored:
    frame = Frame(X=np.zeros((0, len(detector.input_columns))), columns=detector.input_columns)
    none = np.zeros(0)
    return Scored(frame=frame, scores=none, flags=none.astype(bool), thresholds=none)


# -- a state as JSON plus arrays --------------------------------------------------------------


def _frame_tree(f: Frame) -> dict[str, Any]:
    return {
        "__frame__": True,
        "X": f.X,
        "columns": list(f.columns),
        "timestamps": None if f.timestamps is None else f.timestamps.astype(np.int64),
        "labels": f.labels,
        "channels": None if f.channels is None else [channel_key(c) for c in f.channels],
        "index": f.index,
    }


def _frame_from(t: dict[str, Any]) -> Frame:
    ts = t["timestamps"]
    return Frame(
        X=t["X"], columns=t["columns"],
        timestamps=None if ts is None else ts.astype("datetime64[ns]"),
        labels=t["labels"],
        channels=None if t["channels"] is None else np.array(t["channels"], dtype=object),
        index=t["index"],
    )


def _scored_tree(s: Scored) -> dict[str, Any]:
    return {"frame": s.frame, "scores": s.scores, "flags": s.flags,
            "thresholds": s.thresholds, "explanations": s.explanations}


def _scored_from(t: dict[str, Any]) -> Scored:
    return Scored(frame=t["frame"], scores=t["scores"], flags=t["flags"],
                  thresholds=t["thresholds"], explanations=t.get("explanations"))


def pack_state(obj: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """A component's state as a JSON-able tree and the numpy arrays it refers to (by name),
    the form :meth:`Scorer.save` writes; :func:`unpack_state` reverses it.

    :raises DataError: for values that cannot be saved safely (objects, object arrays).
    """
    arrays: dict[str, np.ndarray] = {}
    return _encode(obj, arrays), arrays


def unpack_state(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The state :func:`pack_state` packed."""
    return _decode(tree, arrays)


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``obj`` as JSON, its arrays stored in ``arrays`` under generated names."""
    if isinstance(obj, Frame):
        return _encode(_frame_tree(obj), arrays)
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise DataError("cannot save an object array in a scoring state")
        name = f"a{len(arrays)}"
        arrays[name] = obj
        return {"__array__": name}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and "__items__" not in obj:
            return {k: _encode(v, arrays) for k, v in obj.items()}
        return {"__items__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise DataError(f"cannot save a {type(obj).__name__} in a scoring state")


def _decode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__items__" in obj:
            return {_key(_decode(k, arrays)): _decode(v, arrays) for k, v in obj["__items__"]}
        out = {k: _decode(v, arrays) for k, v in obj.items()}
        return _frame_from(out) if out.get("__frame__") else out
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def _key(value: Any) -> Hashable:
    return tuple(value) if isinstance(value, list) else value
