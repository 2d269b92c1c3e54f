"""What a bundle keeps of its test part, so that a report needs no rescoring.

``evaluation.npz`` (no pickle: numeric, boolean, ``datetime64`` and fixed-width text arrays
only) holds, per scored test row: its position in the source (``index``), the score, the
threshold as applied (per row for ``dynamic``), the flag after post-processing, and the
label, timestamp and channel when the data has them; channels are stored as codes into a
table of their names, and explanations as the explained rows' positions (``why_rows``) and
texts (``why_text``): the alarms are a few percent of the rows, and a text per row would make
the file, and the time to write it, grow with the whole test part. Files that keep a text per
row (``why``, as written before) are read too. Beside them, ``drift`` holds the drift report
of the test part against the training profile as JSON text. The file is listed in the
manifest like every other, so its checksum is verified before it is read.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..data.frame import encode_keys
from ..explain.base import explained_text
from ..training.scored import Scored
from .drift import check_drift

EVALUATION_FILE = "evaluation.npz"
#: Test rows sampled for the kept drift report's KS test: more than scipy's exact method
#: takes (10,000), whose cost grows fast, and few enough to keep writing a bundle quick.
DRIFT_SAMPLE_ROWS = 20_000


@attrs.frozen(eq=False)
class Evaluation:
    """The scored test part of a run, columnar: one entry per scored row, in scoring order.

    :param channels: the channel of each row as text, or None without channels.
    :param drift: the test part's drift report (``DriftReport.to_dict()``), or None.
    :param why_rows: the positions of the explained rows, or None without explanations.
    :param why_text: the explanation of each of ``why_rows`` as text.
    """

    index: np.ndarray
    scores: np.ndarray
    thresholds: np.ndarray
    flags: np.ndarray
    labels: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    channels: np.ndarray | None = None
    drift: dict[str, Any] | None = None
    why_rows: np.ndarray | None = None
    why_text: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return int(self.scores.shape[0])

    @property
    def why(self) -> np.ndarray | None:
        """Each row's explanation as text (empty when not explained), or None."""
        if self.why_rows is None or self.why_text is None:
            return None
        out = np.zeros(self.n_rows, dtype=self.why_text.dtype if self.why_text.size else "U1")
        out[self.why_rows] = self.why_text
        return out

    @classmethod
    def from_scored(cls, scored: Scored, drift: Mapping[str, Any] | None = None) -> Evaluation:
        """The evaluation of ``scored`` rows (as the evaluate stage scored them)."""
        frame = scored.frame
        why_rows, why_text = (
            (None, None) if scored.explanations is None else explained_text(scored.explanations)
        )
        return cls(
            index=np.asarray(frame.index, dtype=np.int64),
            scores=np.asarray(scored.scores, dtype=np.float64),
            thresholds=np.asarray(scored.thresholds, dtype=np.float64),
            flags=np.asarray(scored.flags, dtype=bool),
            labels=frame.binary_labels(),  # as the metrics saw them
            timestamps=frame.timestamps,
            channels=None if frame.channels is None else np.asarray(frame.channels).astype(str),
            drift=None if drift is None else dict(drift),
            why_rows=why_rows,
            why_text=why_text,
        )

    def save(self, path: str | Path) -> None:
        """Write the arrays to ``path`` (a compressed ``.npz``, no pickle)."""
        arrays: dict[str, Any] = {
            "index": self.index,
            "scores": self.scores,
            "thresholds": self.thresholds,
            "flags": self.flags,
        }
        if self.labels is not None:
            arrays["labels"] = self.labels
        if self.timestamps is not None:
            arrays["timestamps"] = np.asarray(self.timestamps, dtype="datetime64[ns]")
        if self.channels is not None:
            names, codes = encode_keys(self.channels)  # np.unique's, without its sort
            arrays["channel_names"] = names
            arrays["channel_codes"] = codes.astype(np.int32)
        if self.why_rows is not None and self.why_text is not None:
            arrays["why_rows"] = np.asarray(self.why_rows, dtype=np.int64)
            arrays["why_text"] = np.asarray(self.why_text, dtype=str)
        if self.drift is not None:
            arrays["drift"] = np.array(json.dumps(self.drift, default=str))
        _save_npz(path, arrays)

    @classmethod
    def load(cls, path: str | Path) -> Evaluation:
        """Read an evaluation written by :meth:`save` (never unpickling anything)."""
        with np.load(path, allow_pickle=False) as z:
            names = set(z.files)
            channels = None
            why_rows = why_text = None
            if "why_rows" in names:
                why_rows, why_text = z["why_rows"], z["why_text"]
            elif "why" in names:  # one text per row, as files were written before
                why_text = z["why"]
                why_rows = np.flatnonzero(why_text != "")
                why_text = why_text[why_rows]
            if "channel_codes" in names:
                channels = z["channel_names"][z["channel_codes"]]
            return cls(
                index=z["index"],
                scores=z["scores"],
                thresholds=z["thresholds"],
                flags=z["flags"],
                labels=z["labels"] if "labels" in names else None,
                timestamps=z["timestamps"] if "timestamps" in names else None,
                channels=channels,
                drift=json.loads(str(z["drift"])) if "drift" in names else None,
                why_rows=why_rows,
                why_text=why_text,
            )


def _save_npz(path: str | Path, arrays: Mapping[str, Any]) -> None:
    """An ordinary ``.npz`` (``np.load`` reads it) compressed at zlib's fastest level: the
    default level (6) only doubled the time of writing a bundle. An array whose first bytes
    do not shrink by a tenth (scores: their low bits are noise) is stored as is: deflating it
    took most of the file's time, to save a few percent of its size."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            data = buffer.getbuffer()
            stored = len(zlib.compress(data[:_PROBE_BYTES], 1)) > 0.9 * min(len(data),
                                                                              _PROBE_BYTES)
            zf.writestr(f"{name}.npy", data,
                        compress_type=zipfile.ZIP_STORED if stored else None)


#: Bytes of an array deflated to tell whether deflating it is worth it.
_PROBE_BYTES = 1 << 16


def drift_of_scored(
    profile: Mapping[str, Any], sample: np.ndarray | None, scored: Scored
) -> dict[str, Any] | None:
    """The drift report of the scored test rows against the training ``profile``.

    The KS test uses a sample of :data:`DRIFT_SAMPLE_ROWS` test rows, so writing a bundle
    stays quick; the PSI counts every row.
    """
    if not profile or scored.n_rows == 0:
        return None
    report = check_drift(profile, sample, [scored.frame], sample_rows=DRIFT_SAMPLE_ROWS)
    return report.to_dict()


def load_evaluation(path: str | Path, manifest: Mapping[str, Any]) -> Evaluation | None:
    """Return the kept evaluation of a verified bundle, or None when it has none (a bundle
    written before bundles kept one, or a run whose test part was empty)."""
    if EVALUATION_FILE not in manifest["files"]:
        return None
    return Evaluation.load(Path(path) / EVALUATION_FILE)
