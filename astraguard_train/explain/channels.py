"""Which channels alarmed together: for per-channel detectors in a multi-channel file, each
flagged row names every channel flagged at the same timestamp."""

from __future__ import annotations

import numpy as np

from ..data.frame import Frame

#: The output column: the channels flagged at the row's timestamp, sorted, ``;``-separated.
ALARM_CHANNELS = "alarm_channels"


def alarm_channels(frame: Frame, flags: np.ndarray) -> np.ndarray | None:
    """Per row, the channels flagged at its timestamp (empty text on unflagged rows); None
    when the frame has no channels or no timestamps."""
    if frame.channels is None or frame.timestamps is None:
        return None
    flagged = np.flatnonzero(flags)
    out = np.zeros(frame.n_rows, dtype=object)
    out[:] = ""
    if flagged.size:
        times = frame.timestamps[flagged]
        names = frame.channels[flagged].astype(str)
        order = np.lexsort((names, times))
        uniq, start = np.unique(times[order], return_index=True)
        groups = np.split(names[order], start[1:])
        joined = np.array([";".join(dict.fromkeys(g)) for g in groups], dtype=object)
        out[flagged] = joined[np.searchsorted(uniq, times)]
    return out.astype(str)
