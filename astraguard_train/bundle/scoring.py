"""Scoring with a saved bundle: :func:`load_bundle` and :class:`BundleDetector`.

``load_bundle(path)`` verifies the bundle (see :mod:`astraguard_train.bundle`) and returns a
:class:`BundleDetector`, whose ``score(data)`` / ``predict(data)`` accept a path, a
:class:`Frame`, a numpy array (columns = the bundle's input features) or records (a list of
dicts). Scores always come from the persisted :class:`TrainedDetector`, through one
:class:`~astraguard_train.training.streaming.Scorer` per stream (``bundle.stream()``), so a
stream's scores, thresholds and flags are the same bits whole, in chunks of any size, or in
successive calls that save the scorer's state in between.

Two ways through large inputs:

- **In memory** (frames, arrays, records): when no row depends on another (no temporal
  state, fixed thresholds), row chunks are scored in parallel (threads by default:
  scikit-learn's tree code releases the GIL; or loky processes).
- **From disk** (paths): the loader's ``iter_chunks(rows)`` reads the file in chunks while
  a worker scores earlier ones (several workers when rows are independent), so memory stays
  bounded; the state each component carries across chunk edges is the scorer's.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..data.frame import Frame
from ..data.readers.roles import row_locator
from ..errors import ConfigError, DataError
from ..parallel import run_parallel
from ..plugins import contracts
from ..training.detector import TrainedDetector
from ..training.scored import Scored, join_scored
from ..training.streaming import Scorer
from .store import load as _load
from .store import load_sample

#: Rows per chunk when scoring arrays and frames in parallel.
CHUNK_ROWS = 250_000
#: Rows per chunk when reading files: smaller, since the reader's buffers come on top.
FILE_CHUNK_ROWS = 100_000


def raw_scored(detector: TrainedDetector, frame: Frame, explain: Any = None) -> Scored:
    """Score ``frame``'s rows on their own, flags before post-processing (for rows that do
    not depend on each other: see :attr:`Scorer.stateless`), explained as ``explain`` asks."""
    return Scorer(detector, explain=explain).raw(frame)


def manifest_digest(path: Path) -> str:
    """The SHA-256 of a bundle version's manifest: what a saved scoring state is tied to."""
    import hashlib

    return hashlib.sha256((Path(path) / "manifest.json").read_bytes()).hexdigest()


@attrs.define(eq=False)
class BundleDetector:
    """A verified bundle, ready to score.

    :param path: the version directory it was loaded from.
    :param manifest: the bundle's manifest.
    :param detector: the persisted :class:`TrainedDetector`.
    :param registry: the registry used to find loaders for paths.
    :param chunk_rows: rows per chunk for in-memory data.
    :param file_chunk_rows: rows per chunk read from files.
    :param n_jobs: chunks scored at once (None: every core).
    :param backend: how in-memory chunks run in parallel: ``threading`` (default: no start-up
        cost; scikit-learn's tree code releases the GIL) or ``loky`` (worker processes, which
        hold up better when the machine is busy; the first call starts them).
    :param selected: how the version was chosen from what the caller named: ``"version"``
        (a version directory), ``"champion"`` (the store's promoted version), ``"latest"``
        or ``"newest"`` (no champion marked).
    """

    path: Path
    manifest: dict[str, Any]
    detector: TrainedDetector
    registry: Any
    chunk_rows: int = CHUNK_ROWS
    file_chunk_rows: int = FILE_CHUNK_ROWS
    n_jobs: int | None = None
    backend: str = "threading"
    selected: str = "version"
    _explainers: dict[Any, Any] | None = attrs.field(default=None, init=False, repr=False)

    # -- what the bundle expects -------------------------------------------------------------
    @property
    def input_features(self) -> tuple[str, ...]:
        return tuple(self.manifest["input_features"])

    @property
    def output_features(self) -> tuple[str, ...]:
        return tuple(self.manifest["output_features"])

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"])

    def loader_params(self, loader: str | None = None, **overrides: Any) -> dict[str, Any]:
        """The training config's loader options (minus ``path``) updated with ``overrides``.

        The options describe the data's columns (timestamp, label, channel, extra columns).
        With ``loader`` (the name of the loader about to read), only options that loader
        accepts are inherited, so a bundle trained from Parquet can score a CSV file.
        """
        table = dict(self.manifest["config"].get("loader", {}))
        inherited = {k: v for k, v in table.items() if k not in ("name", "path")}
        # Live data has features (and, for time series, timestamps and channels); the label
        # and the extras of the training data are used when present, never required.
        optional = [*([inherited["label_column"]] if inherited.get("label_column") else []),
                    *(inherited.get("extra_columns") or ())]
        if optional:
            inherited["optional_columns"] = optional
        if loader is not None:
            accepted = self.registry.get("loader", loader).params
            inherited = {k: v for k, v in inherited.items() if k in accepted}
        inherited.update(overrides)
        return inherited

    # -- turning input into frames -------------------------------------------------------------
    def check_frame(self, frame: Frame) -> Frame:
        """Return ``frame`` with the bundle's input features, in the manifest's order.

        :raises DataError: listing the missing features and the unexpected columns.
        """
        expected = self.input_features
        if frame.columns == expected:
            return frame
        missing = [c for c in expected if c not in frame.columns]
        if missing:
            extra = [c for c in frame.columns if c not in expected]
            where = f" {frame.source}" if frame.source else ""
            raise DataError(
                f"input{where} is missing feature column(s) {', '.join(missing)}; "
                f"columns not known to the bundle: {', '.join(extra) or 'none'} "
                f"(renamed?); the bundle was trained on: {', '.join(expected)}"
            )
        return frame.select(expected)

    def to_frame(self, data: Any) -> Frame:
        """Return in-memory ``data`` as a checked Frame: a Frame, a 2-D array (columns = the
        input features), a pandas or polars DataFrame, or records (a list of dicts).

        DataFrames and records are read as the training data was (the same column roles, the
        label and extras used when present), by the ``array`` and ``records`` loaders.

        :raises DataError: for a wrong column count, a missing feature or a value that is not
            a number (naming the row or record and the column).
        """
        if isinstance(data, Frame):
            return self.check_frame(data)
        if isinstance(data, np.ndarray):
            X = data.reshape(-1, 1) if data.ndim == 1 else data
            if X.ndim != 2 or X.shape[1] != len(self.input_features):
                raise DataError(
                    f"array of shape {data.shape}: expected {len(self.input_features)} columns, "
                    f"the bundle's input features: {', '.join(self.input_features)}"
                )
            if X.dtype.kind not in "biuf":
                raise DataError(
                    f"array of {X.dtype} values: expected numbers, one column per input "
                    f"feature ({', '.join(self.input_features)})"
                )
            return Frame(X=X, columns=self.input_features)
        from ..data.readers.records import is_dataframe

        if is_dataframe(data):
            return self.check_frame(self._loaded("array", data))
        if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
            return self.check_frame(self._loaded("records", data))
        raise DataError(
            f"cannot score a {type(data).__name__}: pass a path, a Frame, a pandas or polars "
            "DataFrame, a 2-D array or records"
        )

    def _loaded(self, loader: str, data: Any) -> Frame:
        """``data`` read by the in-memory ``loader`` with the training data's column roles."""
        params = self.loader_params(loader)
        return self.registry.create("loader", loader, params, where="loader").load(data)

    def open_loader(self, path: str | Path, **overrides: Any) -> Any:
        """Return the loader for ``path`` (picked by its extension) with the bundle's options.

        :raises DataError: for an extension no loader reads.
        """
        from ..data.sources import loader_for, loader_name_for

        # a file whose extension names no loader is read as the training data was, when
        # that was a file
        trained = self.manifest["config"].get("loader", {}).get("name")
        reads_files = self.registry.has("loader", trained) and (
            "path" in self.registry.get("loader", trained).params
        )
        name = loader_name_for(path, trained if reads_files else None)
        params = self.loader_params(name, **overrides)
        return loader_for(path, self.registry, name, **params)

    def chunks(
        self, data: Any, chunk_rows: int | None = None, offset: int = 0, *,
        check_values: bool = False, **loader_params: Any,
    ) -> Iterator[Frame]:
        """Yield checked frames of at most ``chunk_rows`` rows, in row order, with row
        positions (counted from ``offset``) in ``index``.

        :param check_values: refuse a feature value the chain cannot score (see
            :meth:`check_values`), naming the file, line and column.
        """
        if isinstance(data, (str, Path)):
            rows = chunk_rows or self.file_chunk_rows
            loader = self.open_loader(data, **loader_params)
            source = contracts.read_chunks(loader, rows, data)
            locator = getattr(loader, "locator", None)
            locate = locator() if locator is not None else row_locator
        else:
            rows = chunk_rows or self.chunk_rows
            frame = self.to_frame(data)
            source = (frame.take(slice(i, i + rows)) for i in range(0, max(frame.n_rows, 1), rows))
            locate = _memory_locator(data)
        for chunk in source:
            chunk = self.check_frame(chunk)
            n = chunk.n_rows
            if n == 0:
                continue
            chunk = attrs.evolve(chunk, index=np.arange(offset, offset + n, dtype=np.int64))
            if check_values:
                self.check_values(chunk, locate)
            yield chunk
            offset += n

    def check_values(self, frame: Frame, locate: Any = None) -> None:
        """Refuse a feature value the chain cannot score: NaN (unless the bundle was trained
        with ``[missing] policy = "median"``, which fills it) or an infinity.

        :param locate: names a row from its ``index`` (default ``row N``, from 1).
        :raises DataError: naming the source, place, column and value, and the fix.
        """
        fills_nan = self.manifest["config"].get("missing", {}).get("policy") == "median"
        bad = np.isinf(frame.X) if fills_nan else ~np.isfinite(frame.X)
        if not bad.any():
            return
        row, col = (int(v) for v in np.argwhere(bad)[0])
        value = float(frame.X[row, col])
        where = f"{frame.source}: " if frame.source else ""
        place = (locate or row_locator)(int(frame.index[row]))
        if np.isnan(value):
            what = "a missing value (empty or NaN)"
            fix = ('train with [missing] policy = "median" to fill missing values when '
                   'scoring (policies drop and ffill act on training data only)')
        else:
            what = f"value {value}"
            fix = "no [missing] policy handles an infinite value: correct or remove the row"
        raise DataError(
            f"{where}{place}, column {frame.columns[col]!r}: {what} cannot be scored; {fix}"
        )

    # -- explaining -------------------------------------------------------------------------------
    def explainers(self) -> dict[Any, Any]:
        """The bundle's fitted explainer per chain key (read from ``explainer.json`` once).

        :raises NoExplainerError: the bundle has none (written before explanations existed),
            saying how to add one.
        """
        cached = self._explainers
        if cached is None:
            from ..explain.attach import read_explainers

            cached = read_explainers(self.path, self.manifest, self.registry,
                                     list(self.detector.chains))
            self._explainers = cached
        return cached

    def explaining(self, top: int = 3, *, all_rows: bool = False,
                   rows: Sequence[int] | np.ndarray | None = None) -> Any:
        """An :class:`~astraguard_train.explain.request.Explaining` for :meth:`score`,
        :meth:`stream` and :func:`score_to`: the ``top`` features of each flagged row (every
        scored row with ``all_rows``; the input positions ``rows`` too)."""
        from ..explain.request import Explaining

        wanted = None if rows is None else np.asarray(rows, dtype=np.int64)
        return Explaining(self.explainers(), top=top, all_rows=all_rows, rows=wanted)

    def explained(self, data: Any, rows: Sequence[int] | np.ndarray | None = None,
                  top: int = 3, *, all_rows: bool = False, **loader_params: Any) -> Scored:
        """The explained rows of ``data``: the flagged rows, or the input positions ``rows``
        (the output's ``row``), or every scored row with ``all_rows``; their
        ``explanations`` hold the ``top`` features.

        :raises NoExplainerError: the bundle has no explainer (says how to add one).
        :raises DataError: a row of ``rows`` was not scored (naming it).
        """
        explain = self.explaining(top, all_rows=all_rows, rows=rows)
        scored = self.score(data, explain=explain, **loader_params)
        if all_rows:
            return scored
        if explain.rows is None:
            return scored.take(np.flatnonzero(scored.flags))
        keep = np.isin(scored.frame.index, explain.rows)
        missing = np.setdiff1d(explain.rows, scored.frame.index[keep])
        if missing.size:
            raise DataError(
                f"--rows: row(s) {', '.join(map(str, missing[:5].tolist()))} were not scored "
                f"(past the input's end, or warm-up rows a temporal transform drops)"
            )
        return scored.take(np.flatnonzero(keep))

    def explain(self, data: Any, rows: Sequence[int] | np.ndarray | None = None, top: int = 3,
                *, all_rows: bool = False, **loader_params: Any) -> Any:
        """:meth:`explained` as a pandas DataFrame, one line per explained row, with the
        output columns of ``score --explain`` (see docs/explanations.md)."""
        import pandas as pd

        from .score_writers import columns_of

        found = self.explained(data, rows, top, all_rows=all_rows, **loader_params)
        return pd.DataFrame(columns_of(found))

    # -- scoring ---------------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """The SHA-256 of this bundle version's manifest (what a saved state is tied to)."""
        return manifest_digest(self.path)

    def stream(self, state: str | Path | None = None, explain: Any = None) -> Scorer:
        """A :class:`~astraguard_train.training.streaming.Scorer` for one stream of rows:
        ``score(chunk)`` for each chunk in turn, ``flush()`` at the stream's end,
        ``save(path)`` to continue it in another call.

        :param state: a state file written by ``Scorer.save`` to continue from; it must
            come from this bundle version.
        :param explain: explain rows as they are scored (:meth:`explaining`).
        :raises DataError: for a state file that is unreadable or from another bundle.
        """
        if state is not None:
            scorer = Scorer.load(state, self.detector, self.fingerprint)
            scorer.explain = explain
            return scorer
        return Scorer(self.detector, self.fingerprint, explain=explain)

    def iter_scores(
        self,
        data: Any,
        *,
        chunk_rows: int | None = None,
        n_jobs: int | None = None,
        **loader_params: Any,
    ) -> Iterator[Scored]:
        """Yield scored rows chunk by chunk, equal to scoring all of ``data`` at once.

        Each component's state is carried across chunk edges, and rows whose post-processed
        flag could still change (an alarm at the chunk's end) are held back and yielded
        with a later chunk.
        """
        chunks = self.chunks(data, chunk_rows, check_values=True, **loader_params)
        yield from self.score_stream(self.stream(), chunks, n_jobs)

    def score_stream(
        self, scorer: Scorer, chunks: Iterable[Frame], n_jobs: int | None = None,
        flush: bool = True,
    ) -> Iterator[Scored]:
        """Score ``chunks`` with ``scorer`` while the next one is read; yield the final rows
        in row order (and, with ``flush``, the rows held back at the end).

        When rows are independent (:attr:`Scorer.stateless`), up to ``n_jobs`` chunks are
        scored at once in threads; otherwise one worker scores them in order.
        """
        jobs = (n_jobs or self.n_jobs or os.cpu_count() or 1) if scorer.stateless else 1
        in_flight: deque[Future[Scored]] = deque()
        score = (lambda c: raw_scored(self.detector, c, scorer.explain)) if (
            scorer.stateless) else scorer.raw
        explain = scorer.explain

        def final(part: Scored) -> Scored:
            return part if explain is None else explain.final(part)

        source = iter(chunks)
        head = list(itertools.islice(source, 2))
        if len(head) < 2:  # one chunk (a few new rows): no thread to start and wait for
            for chunk in head:
                if scorer.stateless:
                    scorer.rows_seen += chunk.n_rows
                yield final(scorer.decide(score(chunk)))
        else:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                for chunk in itertools.chain(head, source):
                    if scorer.stateless:  # row positions continue across chunks (and calls)
                        scorer.rows_seen += chunk.n_rows
                    in_flight.append(pool.submit(score, chunk))
                    while len(in_flight) > jobs:
                        yield final(scorer.decide(in_flight.popleft().result()))
                while in_flight:
                    yield final(scorer.decide(in_flight.popleft().result()))
        if flush:
            rest = scorer.flush()
            if rest.n_rows:
                yield final(rest)

    def score(
        self,
        data: Any,
        *,
        chunk_rows: int | None = None,
        n_jobs: int | None = None,
        backend: str | None = None,
        explain: Any = None,
        scheduler: str | None = None,
        **loader_params: Any,
    ) -> Scored:
        """Score ``data`` (a path, Frame, array or records) as one stream; return every
        scored row.

        Rows a temporal transform drops for warm-up are absent; ``Scored.frame.index`` gives
        each scored row's position in the input. With ``explain`` (:meth:`explaining`),
        ``Scored.explanations`` holds the explanation columns.

        :param backend: ``dask`` (the scheduler at ``scheduler``) or ``dask-local`` scores
            in-memory data's groups (channels) in batches on Dask workers, as training does
            (:mod:`~astraguard_train.training.group_scoring`): the same results as here.
        :raises DataError: when features are missing or the input cannot be read.
        """
        if (backend or "").startswith("dask") and explain is None and not isinstance(
                data, (str, Path)):
            from ..training.group_scoring import score_by_group

            frame = self.to_frame(data)
            self.check_values(frame, _memory_locator(data))
            return score_by_group(self.detector, frame, n_jobs=n_jobs or -1,
                                  backend=str(backend), scheduler=scheduler)
        if isinstance(data, (str, Path)):
            chunks = self.chunks(data, chunk_rows, check_values=True, **loader_params)
            return join_scored(list(self.score_stream(self.stream(explain=explain), chunks,
                                                      n_jobs)))
        rows = chunk_rows or self.chunk_rows
        frame = self.to_frame(data)
        self.check_values(frame, _memory_locator(data))
        jobs = n_jobs or self.n_jobs or os.cpu_count() or 1
        scorer = self.stream(explain=explain)
        if frame.n_rows <= rows or jobs == 1 or not scorer.stateless:
            whole = scorer.score_all(frame)
            return whole if explain is None else explain.final(whole)
        parts = [frame.take(slice(i, i + rows)) for i in range(0, frame.n_rows, rows)]
        done = run_parallel(
            raw_scored, [(self.detector, part, explain) for part in parts], n_jobs=jobs,
            backend=backend or self.backend,
        )
        whole = join_scored([scorer.decide(join_scored(done)), scorer.flush()])
        return whole if explain is None else explain.final(whole)

    def predict(self, data: Any, **kwargs: Any) -> np.ndarray:
        """Return the boolean flags (``score > threshold``, post-processed) for ``data``."""
        return self.score(data, **kwargs).flags

    def drift(self, data: Any, *, chunk_rows: int | None = None, thresholds: Any = None,
              **loader_params: Any) -> Any:
        """Compare ``data`` with the bundle's training profile; return a ``DriftReport``."""
        from .drift import check_drift

        sample = load_sample(self.path, self.manifest)
        return check_drift(
            self.manifest["profile"],
            sample,
            self.chunks(data, chunk_rows, **loader_params),
            thresholds=thresholds,
        )


def _memory_locator(data: Any) -> Any:
    """How messages name a row of in-memory ``data``: ``record N`` for a list of dicts."""
    from ..data.readers.records import record_locator

    is_records = isinstance(data, Sequence) and not isinstance(data, (str, bytes))
    return record_locator if is_records else row_locator


@attrs.frozen
class ScoreSummary:
    """What :func:`score_to` did: rows read and scored, how many were flagged, how fast."""

    bundle: str
    source: str
    output: str | None
    rows: int
    scored: int
    flagged: int
    seconds: float
    counts: dict[str, int] = attrs.field(factory=dict)
    #: rows scored but held back (their alarm may continue) for the stream's next call
    held_back: int = 0
    #: rows the stream's previous call held back, written by this one
    carried_in: int = 0

    @property
    def not_scored(self) -> int:
        """Rows read but not scored (warm-up rows a temporal transform drops)."""
        return self.rows + self.carried_in - self.scored - self.held_back

    @property
    def flagged_share(self) -> float:
        return self.flagged / self.scored if self.scored else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **attrs.asdict(self),
            "not_scored": self.not_scored,
            "flagged_share": self.flagged_share,
            "rows_per_second": self.rows / self.seconds if self.seconds > 0 else None,
        }


def score_to(
    bundle: BundleDetector,
    data: Any,
    output: str | Path | None = None,
    *,
    stream: Any = None,
    chunk_rows: int | None = None,
    n_jobs: int | None = None,
    scorer: Scorer | None = None,
    flush: bool = True,
    explain: Any = None,
    backend: str | None = None,
    scheduler: str | None = None,
    **loader_params: Any,
) -> ScoreSummary:
    """Score ``data`` chunk by chunk, writing each chunk's rows to ``output`` as it goes.

    With ``backend`` ``dask`` (the scheduler at ``scheduler``) or ``dask-local``, ``data`` is
    read whole and its groups (channels) are scored in batches on Dask workers (see
    :mod:`~astraguard_train.training.group_scoring`): the rows and figures are the same.

    :param output: a ``.csv``, ``.jsonl`` or ``.parquet`` file, or None to write CSV to
        ``stream`` (or nothing when ``stream`` is None too).
    :param scorer: the stream ``data`` continues (``bundle.stream(state)``), updated in
        place; default a new stream. Row numbers continue the stream's.
    :param flush: the stream ends with ``data``: write the rows held back too. False keeps
        them in ``scorer`` (to save its state for the next call).
    :param explain: explain the flagged rows (``bundle.explaining(top)``); with a
        ``scorer``, give it to :meth:`BundleDetector.stream` instead.
    :param n_jobs: chunks scored at once in threads (None: every core); memory holds about
        ``n_jobs + 1`` chunks.
    :returns: the :class:`ScoreSummary`.
    :raises DataError: for unreadable input, missing features or an unknown output format.
    """
    import time

    from ..progress import step
    from .score_writers import ScoreWriter

    start = time.perf_counter()
    read = [0]

    def counted(chunks: Iterable[Frame]) -> Iterator[Frame]:
        for c in chunks:
            read[0] += c.n_rows
            yield c

    scored = flagged = 0
    counts: dict[str, int] = {}
    writer = ScoreWriter(output, stream) if output is not None or stream is not None else None
    on_dask = (backend or "").startswith("dask")
    if on_dask and (scorer is not None or not flush or explain is not None):
        raise ConfigError(
            f"backend {backend!r} scores a whole stream, unexplained: no saved state"
        )
    scorer = scorer if scorer is not None else bundle.stream(explain=explain)
    carried_in = scorer.pending.scored.n_rows if scorer.pending is not None else 0
    with writer if writer is not None else _nothing(), step("scoring") as line:
        chunks = counted(bundle.chunks(data, chunk_rows, scorer.rows_seen, check_values=True,
                                       **loader_params))
        parts: Iterable[Scored]
        if on_dask:
            from ..training.group_scoring import score_by_group

            frames = list(chunks)
            parts = [score_by_group(bundle.detector, Frame.concat(frames), n_jobs=n_jobs or -1,
                                    backend=str(backend), scheduler=scheduler)] if frames else []
        else:
            parts = bundle.score_stream(scorer, chunks, n_jobs, flush)
        for part in parts:
            scored += part.n_rows
            flagged += int(np.count_nonzero(part.flags))
            for k, v in part.counts.items():
                counts[k] = counts.get(k, 0) + int(v)
            if writer is not None:
                writer.write(part)
            line.update(info=f"{read[0]:,} rows read, {scored:,} scored")
    return ScoreSummary(
        bundle=str(bundle.path),
        source=str(data) if isinstance(data, (str, Path)) else type(data).__name__,
        output=str(output) if output is not None else None,
        rows=read[0],
        scored=scored,
        flagged=flagged,
        seconds=time.perf_counter() - start,
        counts=counts,
        held_back=scorer.pending.scored.n_rows if scorer.pending is not None else 0,
        carried_in=carried_in,
    )


def _nothing() -> Any:
    import contextlib

    return contextlib.nullcontext()


def load_bundle(
    path: str | Path,
    registry: Any = None,
    *,
    key: Any = None,
    trusted: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    n_jobs: int | None = None,
    backend: str = "threading",
) -> BundleDetector:
    """Verify and load the bundle at ``path``; return a :class:`BundleDetector`.

    ``path`` is a version directory, or a bundle directory ``OUTPUT/NAME`` resolved to its
    champion when one was promoted, otherwise to its newest version; ``selected`` on the
    result says which. Every file's SHA-256 (and, with a key, the manifest's signature) is
    checked before anything is unpickled.

    :param key: the Ed25519 public key (PEM file) the bundle must be signed with; None reads
        the file named by ``ASTRAGUARD_TRAIN_VERIFY_KEY``, if set.
    :param trusted: you trust whoever can write the bundle; without a verified signature a
        pickle-based (joblib) bundle loads only then. skops bundles need neither.
    :raises IntegrityError: a file is missing, unlisted or altered (the message names it).
    :raises SignatureError: with a key, the bundle is unsigned or signed with another key.
    :raises UntrustedBundleError: a joblib bundle, neither signature-verified nor trusted.
    :raises BundleFormatError: the bundle was written in a newer format.
    :raises BundlePluginError: a plugin the bundle needs is missing (names the distribution).
    :warns LibraryVersionWarning: library versions differ from when it was written.
    """
    if registry is None:
        from ..plugins.manager import build_registry

        registry = build_registry()
    loaded = _load(path, registry, key=key, trusted=trusted)
    return BundleDetector(
        path=loaded.path,
        manifest=loaded.manifest,
        detector=loaded.detector,
        registry=registry,
        chunk_rows=chunk_rows,
        n_jobs=n_jobs,
        backend=backend,
        selected=loaded.selected,
    )
