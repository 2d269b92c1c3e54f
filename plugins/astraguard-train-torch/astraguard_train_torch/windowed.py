"""What both neural detectors share: windows of past rows per channel, fitting a network on
them, scoring a stream chunk by chunk, and the weights kept as a tensor file.

A row's score comes from the window of rows before it (the forecaster) or ending at it (the
autoencoder), in its own channel, so it uses only that row and earlier ones. A channel's
first rows have no full window; the missing past is padded with the channel's first row, as
the ``forecast`` detector does, and those rows are counted.

Chunked scoring equals whole scoring bit for bit: the state carries each channel's last
window of rows and the EWMA's filter state, and windows are scored in blocks of
``predict_rows_`` counted from the channel's first row, each padded to full size, so a row
meets the same arithmetic wherever a chunk cuts the stream.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted

from astraguard_train.errors import ConfigError, DataError, NotFittedError
from astraguard_train.frame import Frame
from astraguard_train.timeseries.carry import segments
from astraguard_train.timeseries.forecast import ewma

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Bytes a window's row costs in a forward pass, per input value and hidden unit (gates,
#: activations, their gradients): a rough figure for choosing GPU batch sizes.
BYTES_PER_CELL = 64


class WindowDetector(OutlierMixin, BaseEstimator):
    """Base of the neural detectors (not registered itself); subclasses say which columns
    go in, how far back a window reaches (:attr:`_pad`), which network learns what
    (:meth:`_network`, :meth:`_targets`) and how a window's output becomes a row's error
    (:meth:`_errors`)."""

    #: the weights file's extension (a torch ``state_dict``, loaded with ``weights_only``)
    weights_suffix = ".pt"

    window: int
    smoothing: float
    epochs: int
    batch_size: int | str
    predict_batch: int | str
    validation_split: float
    patience: int
    min_delta: float
    learning_rate: float
    device: str
    mixed_precision: bool
    random_state: int | None
    #: the fitted network; None in the copy a bundle pickles (:meth:`without_weights`)
    network_: nn.Module | None

    # -- subclasses ----------------------------------------------------------------------------
    def _inputs(self, frame: Frame) -> list[str]:
        raise NotImplementedError

    @property
    def _pad(self) -> int:
        raise NotImplementedError

    def _network(self, n_inputs: int) -> nn.Module:
        raise NotImplementedError

    def _targets(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def _errors(self, out: torch.Tensor, x: torch.Tensor, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check_own_params(self) -> None:
        """Subclasses' checks of their own parameters."""

    # -- the scikit-learn contract without time: one channel, rows in order ---------------
    def fit(self, X: np.ndarray, y: object = None) -> WindowDetector:
        """Fit on a feature matrix whose rows are one channel in time order; returns self."""
        return self.fit_frame(_as_frame(X))

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Scores for a matrix whose rows are one channel in time order."""
        check_is_fitted(self, "inputs_")
        return self.score_frame(_as_frame(X, self.columns_))

    # -- the frame contract ------------------------------------------------------------------
    def fit_frame(self, frame: Frame) -> WindowDetector:
        """Fit the network on every channel of ``frame``; returns self.

        Sets ``columns_``, ``inputs_`` (the columns a window holds), ``network_``,
        ``device_`` (where it was trained), ``training_`` (a
        :class:`~.networks.TrainingLog`), ``predict_rows_``, ``train_scores_`` and
        ``n_partial_window_``.

        :raises ConfigError: for invalid parameters (naming ``model.<param>``), or a CUDA
            device this machine lacks.
        :raises DataError: when ``frame`` has too few rows to train on.
        """
        from .devices import batch_rows, resolve_device, seeded
        from .networks import train_network

        self._check_params()
        device = resolve_device(self.device)
        if frame.n_rows == 0:
            raise DataError(f"{type(self).__name__}: no training rows")
        self.columns_ = frame.columns
        self.inputs_ = self._inputs(frame)
        series, starts, targets, valid = self._training_samples(frame)
        row_bytes = self.window * len(self.inputs_) * BYTES_PER_CELL * self._width
        with seeded(self.random_state, device):
            self.network_ = self._network(len(self.inputs_))
            self.training_ = train_network(
                self.network_, series, starts, targets, valid,
                window=self.window, epochs=self.epochs,
                batch_size=batch_rows(self.batch_size, device, row_bytes),
                patience=self.patience, min_delta=self.min_delta,
                learning_rate=self.learning_rate, device=device,
                mixed_precision=self.mixed_precision,
            )
        self.device_ = device.type
        self.predict_rows_ = batch_rows(self.predict_batch, device, row_bytes // 3)
        self.train_scores_ = self.score_frame(frame)
        self.n_partial_window_ = self.partial_window_rows(frame)
        return self

    def score_frame(self, frame: Frame) -> np.ndarray:
        """Return each row's score, in ``frame``'s row order (higher = more anomalous).

        :raises NotFittedError: before :meth:`fit_frame`.
        """
        return self.score_stream(frame, None)[0]

    def init_state(self) -> dict[Any, Any]:
        """No channel seen yet."""
        return {}

    def score_stream(
        self, frame: Frame, state: dict[Any, Any] | None
    ) -> tuple[np.ndarray, dict[Any, Any]]:
        """Score the next chunk of a stream, continuing ``state`` (None or
        :meth:`init_state`: the stream's start); the given state is not modified.

        Returns the chunk's scores, bit for bit those of the whole stream, and the state
        to carry, per channel: its last window of (padded) input rows, the EWMA's filter
        state, its row count and ``partial_rows``, how many of its rows were scored without
        a full window.

        :raises NotFittedError: before :meth:`fit_frame`.
        """
        check_is_fitted(self, "inputs_")
        carried = dict(state or {})
        scores = np.zeros(frame.n_rows)
        idx = [frame.column_index(c) for c in self.inputs_]
        for key, rows in segments(frame):
            past = carried.get(key) or {"seen": 0, "past": None, "zi": None}
            values = frame.X[rows][:, idx]
            series = _padded(values, self._pad, past["past"])
            errors = self._row_errors(series, values, past["seen"])
            scores[rows], zi = ewma(errors, self.smoothing, past["zi"])
            seen = past["seen"] + rows.size
            carried[key] = {
                "seen": seen,
                "partial_rows": min(seen, self._pad),
                "past": series[series.shape[0] - self._pad :],
                "zi": zi,
            }
        return scores, carried

    def lookback(self) -> tuple[int, float]:
        """History a row needs to score as in the whole stream: its window, then the rows
        after which the EWMA of the errors has forgotten the padded start.

        :returns: ``(rows, 0.0)``.
        """
        from astraguard_train.features.temporal import ewma_memory

        return self._pad + ewma_memory(self.smoothing), 0.0

    def partial_window_rows(self, frame: Frame) -> int:
        """How many rows of ``frame`` are scored without a full window of past rows."""
        _, bounds = frame.channel_segments()
        return int(np.minimum(np.diff(bounds), self._pad).sum())

    def score_counts(self, frame: Frame) -> dict[str, int]:
        """Counts to report for scoring ``frame`` (rows scored with a padded window)."""
        return {"rows_scored_with_partial_window": self.partial_window_rows(frame)}

    # -- weights as a tensor file ------------------------------------------------------------
    def save_weights(self, path: Path) -> None:
        """Write the network's ``state_dict`` (tensors only, on the CPU) to ``path``."""
        import torch

        check_is_fitted(self, "network_")
        assert self.network_ is not None, "a copy without weights has none to save"
        state = {k: v.detach().cpu() for k, v in self.network_.state_dict().items()}
        with open(path, "wb") as fh:
            torch.save(state, fh)

    def without_weights(self) -> WindowDetector:
        """A copy without the network: what a bundle pickles beside the weights file."""
        out = copy.copy(self)
        out.network_ = None
        return out

    def load_weights(self, path: Path) -> None:
        """Rebuild the network and load ``path`` into it: read onto the CPU with
        ``weights_only`` (no code runs), then moved to ``device`` as this machine resolves
        it; a CUDA-trained network lands on the CPU where there is no GPU."""
        import torch

        from .devices import batch_rows, resolve_device

        device = resolve_device(self.device, loading=True)
        state = torch.load(path, map_location="cpu", weights_only=True)
        network = self._network(len(self.inputs_))
        network.load_state_dict(state)
        self.network_ = network.to(device).eval()
        row_bytes = self.window * len(self.inputs_) * BYTES_PER_CELL * self._width
        self.predict_rows_ = batch_rows(self.predict_batch, device, row_bytes // 3)

    # -- internals ---------------------------------------------------------------------------
    @property
    def _width(self) -> int:
        """The widest layer, for the batch size estimate."""
        return max([*getattr(self, "units", ()), 1])

    def _check_params(self) -> None:
        for key in ("window", "epochs", "patience"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"model.{key}: must be a positive integer, got {value!r}")
        if not isinstance(self.smoothing, (int, float)) or self.smoothing < 1:
            raise ConfigError(f"model.smoothing: must be a span >= 1, got {self.smoothing!r}")
        if not 0 <= self.validation_split < 1:
            raise ConfigError(
                f"model.validation_split: must be in [0, 1), got {self.validation_split!r}"
            )
        self._check_own_params()

    def _training_samples(
        self, frame: Frame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """Every channel's padded rows end to end, each sample's window start in them, its
        targets (None: the window itself) and the validation mask (each channel's last
        ``validation_split`` of samples: the training tail)."""
        series, starts, targets, valid = [], [], [], []
        offset = 0
        for _, rows in segments(frame):
            values = frame.X[rows][:, [frame.column_index(c) for c in self.inputs_]]
            positions, aims = self._targets(values)
            full = positions >= self._pad
            if full.sum() >= 2:  # padded windows train only a channel too short without them
                positions = positions[full]
                aims = None if aims is None else aims[full]
            n_valid = int(positions.size * self.validation_split)
            series.append(_padded(values, self._pad, None))
            starts.append(offset + positions)
            targets.append(aims)
            valid.append(np.arange(positions.size) >= positions.size - n_valid)
            offset += series[-1].shape[0]
        if sum(s.size for s in starts) == 0:
            raise DataError(
                f"{type(self).__name__}: no channel has enough rows for one training sample"
            )
        given = [t for t in targets if t is not None]
        aims_all = np.concatenate(given) if given else None
        return np.concatenate(series), np.concatenate(starts), aims_all, np.concatenate(valid)

    def _row_errors(self, series: np.ndarray, values: np.ndarray, seen: int) -> np.ndarray:
        """Each row's error for one channel's rows ``seen``, ``seen + 1``, ... whose padded
        rows (the past's last window first) are ``series``."""
        import torch

        from .devices import autocast
        from .networks import windows

        if self.network_ is None:
            raise NotFittedError(
                f"{type(self).__name__}: its weights were not loaded (load_weights)"
            )
        G = self.predict_rows_
        n = values.shape[0]
        out = np.empty(n)
        param = next(self.network_.parameters())
        data = torch.as_tensor(series, dtype=torch.float32, device=param.device)
        with torch.no_grad():
            for b0 in range(seen // G * G, seen + n, G):
                lo, hi = max(b0, seen) - seen, min(b0 + G, seen + n) - seen
                at = lo + seen - b0
                x = torch.zeros((G, self.window, data.shape[1]), device=param.device)
                x[at : at + hi - lo] = windows(
                    data, torch.arange(lo, hi, device=param.device), self.window
                )
                with autocast(param.device, self.mixed_precision):
                    y = self.network_(x)
                out[lo:hi] = self._errors(y[at : at + hi - lo].float(), x[at : at + hi - lo],
                                          values[lo:hi])
        return out


def _padded(values: np.ndarray, pad: int, past: np.ndarray | None) -> np.ndarray:
    """``values`` after ``pad`` rows of past: the carried ones, or at a channel's start its
    first row repeated."""
    head = np.repeat(values[:1], pad, axis=0) if past is None else past
    return np.concatenate([head, values])


def _as_frame(X: np.ndarray, columns: Sequence[str] | None = None) -> Frame:
    X = np.asarray(X, dtype=np.float64)
    names = list(columns) if columns is not None else [f"x{i}" for i in range(X.shape[1])]
    return Frame(X=X, columns=names)
