"""The feedback store: append-only JSON lines files beside a bundle's versions.

Layout of ``OUTPUT/NAME/feedback/``::

    20261207T024107123456Z-3f9a0c1d2e4b.jsonl   one batch (an ``add`` or an ``import``),
    20261207T031500000001Z-a81b22c9d0e1.jsonl   never modified once renamed into place
    .tmp-PID-XXXX.jsonl                         an unfinished batch; ignored by readers
    .lock                                       held while a batch is written

Each batch is written whole into a ``.tmp-`` file, fsynced and renamed into place, so a crash
or a kill leaves either the whole batch or none of it. Records carry a stable id (see
:func:`~astraguard_train.feedback.records.record_id`); a record whose id is already stored is
not written again, so importing a sheet twice stores it once. Batch names sort in the order
they were written. Any JSON lines reader reads the files; no part of this package is needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from ..bundle.store import (
    MANIFEST,
    TMP_PREFIX,
    _pid_alive,
    fsync_dir,
    read_manifest,
    store_lock,
    versions,
)
from ..errors import BundleError, FeedbackError
from .records import (
    FIELDS,
    KINDS,
    VERDICTS,
    FeedbackRecords,
    format_time,
    now_utc,
    parse_time,
    record_id,
)

FEEDBACK_DIR = "feedback"
SUFFIX = ".jsonl"

#: Where a rule was broken: a column name -> the place to name (file, line and column).
Locate = Callable[[str], str]


@attrs.frozen
class AddResult:
    """What a batch did: records written, records already stored, the batch file (None when
    nothing was new)."""

    added: int
    duplicates: int
    batch: Path | None
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "duplicates": self.duplicates,
                "awaiting_verdict": self.skipped,
                "batch": None if self.batch is None else str(self.batch)}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


class FeedbackStore:
    """The feedback of one bundle ``OUTPUT/NAME`` (a version directory names its bundle).

    :raises BundleError: when ``bundle`` holds no bundle version.
    """

    def __init__(self, bundle: str | Path) -> None:
        root = Path(bundle)
        if (root / MANIFEST).is_file():
            root = root.parent
        if root.name == FEEDBACK_DIR and not versions(root):
            root = root.parent
        if not versions(root):
            raise BundleError(f"{root}: not a bundle store (OUTPUT/NAME with numbered versions)")
        self.root = root
        self.path = root / FEEDBACK_DIR

    # -- what the bundle allows ---------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.root.name

    def versions(self) -> list[int]:
        """The bundle's finished versions."""
        return versions(self.root)

    def channels(self, version: int) -> list[str] | None:
        """The channels bundle ``version`` was trained on; None when its rows had none."""
        manifest = read_manifest(self.root / str(version))
        if "channels" in manifest:
            return manifest["channels"]
        # written before manifests listed channels: the per-channel chains' keys
        if manifest.get("group_by") == "channel":
            return [g for g in manifest.get("groups", []) if g is not None]
        return None

    # -- checking -----------------------------------------------------------------------------
    def check(self, fields: Mapping[str, Any], locate: Locate,
              known: dict[Any, Any] | None = None) -> dict[str, Any] | None:
        """Return the record ``fields`` describe, normalised, without id and write times;
        None for a verdict row whose verdict is still empty (a review sheet row not yet
        answered).

        :param locate: names the place of a column in error messages.
        :param known: a cache for checking many records: the versions, and each checked
            version's channels.
        :raises FeedbackError: naming the place, the value and the rule broken.
        """
        known = {} if known is None else known

        def fail(column: str, rule: str) -> FeedbackError:
            return FeedbackError(f"{locate(column)}: {rule}")

        kind = (_text(fields.get("kind")) or "verdict").lower()
        if kind not in KINDS:
            raise fail("kind", f"{kind!r} is not a kind; expected one of {', '.join(KINDS)}")
        verdict = _text(fields.get("verdict"))
        if kind == "verdict":
            if verdict is None:
                return None
            verdict = verdict.lower()
            if verdict not in VERDICTS:
                raise fail("verdict", f"{verdict!r} is not a verdict; expected one of "
                                      f"{', '.join(VERDICTS)}")
        elif verdict is not None:
            raise fail("verdict", f"a {kind} takes no verdict (got {verdict!r}); an interval "
                                  f"marks anomalous rows, a note only comments")
        if "versions" not in known:
            known["versions"] = self.versions()
        version = self._version(fields.get("version"), known["versions"], fail)
        if version not in known:
            known[version] = self.channels(version)
        channel = self._channel(_text(fields.get("channel")), known[version], kind, version, fail)
        start, end = (self._time(fields.get(k), k, fail) for k in ("start", "end"))
        first, last = (self._row(fields.get(k), k, fail) for k in ("first_row", "last_row"))
        for a, b, names in ((start, end, ("start", "end")), (first, last,
                                                             ("first_row", "last_row"))):
            if (a is None) != (b is None):
                missing = names[0] if a is None else names[1]
                raise fail(missing, f"empty while {names[1] if a is None else names[0]} is "
                                    f"set; give both ends of the range")
            if a is not None and b is not None and a > b:
                raise fail(names[1], f"{b} is before {names[0]} {a}")
        if kind != "note" and start is None and first is None:
            raise fail("start", f"a {kind} needs the range it covers: start and end (times), "
                                f"or first_row and last_row (rows of the data reviewed)")
        author = _text(fields.get("author"))
        if author is None:
            raise fail("author", "empty; every record says who made it")
        note = _text(fields.get("note")) or ""
        if kind == "note" and not note:
            raise fail("note", "empty; a note needs its text")
        at = fields.get("at")
        at = now_utc() if _text(at) is None else format_time(self._time(at, "at", fail)) + "Z"
        return {
            "kind": kind, "verdict": verdict, "bundle": self.name, "version": version,
            "channel": channel,
            "start": None if start is None else format_time(start),
            "end": None if end is None else format_time(end),
            "first_row": first, "last_row": last, "author": author, "at": at, "note": note,
        }

    def _version(self, value: Any, available: list[int],
                 fail: Callable[[str, str], FeedbackError]) -> int:
        text = _text(value)
        if text is None:
            raise fail("version", f"empty; say which version of bundle {self.name} was "
                                  f"reviewed (versions: {', '.join(map(str, available))})")
        try:
            version = int(text)
        except ValueError:
            raise fail("version", f"{text!r} is not a version number") from None
        if version not in available:
            raise fail("version", f"bundle {self.name} has no version {version} (versions: "
                                  f"{', '.join(map(str, available))})")
        return version

    @staticmethod
    def _channel(channel: str | None, channels: list[str] | None, kind: str, version: int,
                 fail: Callable[[str, str], FeedbackError]) -> str | None:
        if channels is None:
            if channel is not None:
                raise fail("channel", f"{channel!r}: version {version} was trained on rows "
                                      f"without channels; leave it empty")
            return None
        if channel is None:
            if kind == "note":
                return None
            raise fail("channel", f"empty; version {version}'s rows are channel telemetry: "
                                  f"name one of its {len(channels)} channels")
        if channel not in channels:
            shown = ", ".join(channels[:12]) + (" ..." if len(channels) > 12 else "")
            raise fail("channel", f"version {version} has no channel {channel!r} (channels: "
                                  f"{shown})")
        return channel

    @staticmethod
    def _time(value: Any, column: str, fail: Callable[[str, str], FeedbackError]) -> Any:
        text = _text(value)
        if text is None:
            return None
        try:
            return parse_time(text)
        except ValueError as exc:
            raise fail(column, str(exc)) from None

    @staticmethod
    def _row(value: Any, column: str, fail: Callable[[str, str], FeedbackError]) -> int | None:
        text = _text(value)
        if text is None:
            return None
        try:
            row = int(text)
        except ValueError:
            raise fail(column, f"{text!r} is not a row number") from None
        if row < 0:
            raise fail(column, f"{row} is negative; rows count from 0")
        return row

    # -- writing ------------------------------------------------------------------------------
    def add(self, records: Sequence[Mapping[str, Any]], source: str) -> AddResult:
        """Write the checked ``records`` (from :meth:`check`) as one batch, all or nothing;
        those already stored (same id) are counted, not written again.

        :param source: where they came from (a file, ``cli``), kept in each record.
        """
        self.path.mkdir(exist_ok=True)
        with store_lock(self.path):
            self._remove_stale()
            stored = {r["id"] for r in self.iter_records()}
            batch: list[dict[str, Any]] = []
            recorded = now_utc()
            for record in records:
                rid = record_id(record)
                if rid in stored:
                    continue
                stored.add(rid)
                full = {**record, "id": rid, "source": record.get("source") or source,
                        "recorded": recorded}
                batch.append({k: full.get(k) for k in FIELDS})
            duplicates = len(records) - len(batch)
            if not batch:
                return AddResult(0, duplicates, None)
            return AddResult(len(batch), duplicates, self._write_batch(batch))

    def _write_batch(self, batch: list[dict[str, Any]]) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        final = self.path / f"{stamp}-{batch[0]['id'][:12]}{SUFFIX}"
        tmp = self.path / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        try:
            with open(tmp, "x", encoding="utf-8") as fh:
                for record in batch:
                    fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                    fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        fsync_dir(self.path)
        return final

    def _remove_stale(self) -> None:
        """Remove unfinished batches whose writer is gone (killed mid-write)."""
        for p in self.path.glob(f"{TMP_PREFIX}*{SUFFIX}"):
            pid = p.name[len(TMP_PREFIX):].split("-")[0]
            if not pid.isascii() or not pid.isdigit() or not _pid_alive(int(pid)):
                with contextlib.suppress(OSError):
                    p.unlink()

    # -- reading ------------------------------------------------------------------------------
    def batches(self) -> list[Path]:
        """The finished batch files, oldest first."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.glob(f"*{SUFFIX}") if not p.name.startswith("."))

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Every stored record (a dict of :data:`~astraguard_train.feedback.records.FIELDS`),
        in the order written.

        :raises FeedbackError: naming the file and line of a record that is not JSON.
        """
        for batch in self.batches():
            with open(batch, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise FeedbackError(
                            f"{batch}, line {n}: not a JSON record: {exc}"
                        ) from None

    def verdicts(self, version: int | None = None, channel: str | None = None,
                 kinds: Sequence[str] = KINDS) -> FeedbackRecords:
        """The stored records as columns, oldest first.

        :param version: only those about this bundle version.
        :param channel: only those about this channel (notes without a channel included).
        :param kinds: which kinds (default every one).
        """
        picked = [
            r for r in self.iter_records()
            if r.get("kind") in kinds
            and (version is None or r.get("version") == version)
            and (channel is None or r.get("channel") in (channel, None))
        ]
        return FeedbackRecords.from_dicts(picked)
