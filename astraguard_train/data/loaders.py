"""Built-in loaders: files (csv, json, jsonl, parquet), memory (records, array), synthetic.

Every file loader takes the same column-role parameters (see :class:`FileLoader`). Parsing is
done by pyarrow's readers (see :mod:`astraguard_train.data.readers`). A loader's ``__init__``
only stores its parameters; they are checked when it loads, and a bad one raises
:class:`ConfigError` naming the ``loader.<param>`` key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import DataError
from . import synthetic
from .frame import Frame
from .readers import Roles, build_frame
from .readers.chunks import check_rows
from .readers.csv import csv_locator, iter_csv_tables, read_csv_table
from .readers.files import resolve_path
from .readers.json import (
    iter_jsonl_tables,
    json_line_locator,
    json_record_locator,
    read_json_array_table,
    read_jsonl_table,
)
from .readers.parquet import iter_parquet_tables, parquet_names, read_parquet_table
from .readers.records import array_table, is_dataframe, record_locator, records_table
from .readers.roles import Locator, row_locator

ROLE_PARAMS = (
    "columns",
    "timestamp_column",
    "timestamp_unit",
    "label_column",
    "label_mapping",
    "channel_column",
    "extra_columns",
    "optional_columns",
)


class SyntheticLoader:
    """Seeded synthetic spacecraft telemetry with labelled injected anomalies."""

    def __init__(
        self,
        n_samples: int = 6000,
        n_channels: int = 3,
        anomaly_share: float = 0.04,
        kinds: list[str] = list(synthetic.ANOMALY_KINDS),  # noqa: B006 (read, never mutated)
        seed: int = 42,
        start: str = "2026-01-01T00:00:00",
        interval_seconds: float = 1.0,
    ) -> None:
        self.params: dict[str, Any] = dict(
            n_samples=n_samples,
            n_channels=n_channels,
            anomaly_share=anomaly_share,
            kinds=kinds,
            seed=seed,
            start=start,
            interval_seconds=interval_seconds,
        )

    def load(self, source: Any = None) -> Frame:
        return synthetic.generate(**self.params)


def keep_params(loader: Any, params: dict[str, Any]) -> None:
    """Store a loader's ``__init__`` arguments as attributes of the same names (and nothing
    else: parameters are checked when the loader loads)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(loader, name, value)


class _RoleLoader:
    """Shared parts of every loader that maps columns to roles."""

    columns: list[str] | None
    timestamp_column: str | None
    timestamp_unit: str | None
    label_column: str | None
    label_mapping: dict[str, int] | None
    channel_column: str | None
    extra_columns: list[str] | None
    optional_columns: list[str] | None

    def roles(self) -> Roles:
        """The checked column roles; raises :class:`ConfigError` for a bad parameter."""
        return Roles.from_params(**{k: getattr(self, k) for k in ROLE_PARAMS})


class FileLoader(_RoleLoader):
    """A file loader: ``load`` reads the whole file, ``iter_chunks`` streams it.

    :param path: the file (``.gz`` compressed or not); ``load(source)`` overrides it.
    :param columns: the feature columns; default every numeric column not given another role.
    :param timestamp_column: the time of each row: ISO 8601 text, or epoch numbers when
        ``timestamp_unit`` is set.
    :param timestamp_unit: ``s``, ``ms``, ``us`` or ``ns`` for epoch numbers; None for ISO text.
    :param label_column: 1 = anomaly, 0 = normal; unset, a column named ``label`` is the label
        unless it is listed in ``columns``.
    :param label_mapping: text label -> 0/1, e.g. ``{nominal = 0, anomaly = 1}``.
    :param channel_column: the channel (group) of each row.
    :param extra_columns: other columns kept beside the features (a ``split`` marker, a
        mission ``phase``), readable through :meth:`Frame.key`.
    :param optional_columns: the label or extra columns that may be absent: used when the
        data has them, never required (scoring sets it, so live data needs no label).
    """

    path: str | None
    #: Whether numbers written as text are numbers: only where every value is text (CSV).
    _text_numbers = False

    def __init__(
        self,
        path: str | None = None,
        columns: list[str] | None = None,
        timestamp_column: str | None = None,
        timestamp_unit: str | None = None,
        label_column: str | None = None,
        label_mapping: dict[str, int] | None = None,
        channel_column: str | None = None,
        extra_columns: list[str] | None = None,
        optional_columns: list[str] | None = None,
    ) -> None:
        keep_params(self, locals())

    def load(self, source: Any = None) -> Frame:
        """Read the whole file into a :class:`Frame`.

        :raises DataError: naming the file and place of unreadable or inconsistent data.
        :raises ConfigError: for a bad loader parameter.
        """
        roles = self.roles()
        path = resolve_path(source if source is not None else self.path)
        table, locate = self._read(path, roles)
        return build_frame(
            table, roles, source=str(path), locate=locate, text_numbers=self._text_numbers
        )

    def iter_chunks(self, rows: int, source: Any = None) -> Iterator[Frame]:
        """Yield frames of ``rows`` rows (the last may be shorter) with the same columns.

        Each chunk's ``index`` holds its rows' positions in the whole file.
        """
        roles = self.roles()
        path = resolve_path(source if source is not None else self.path)
        locate = self._locator(path)
        features: tuple[str, ...] | None = None
        for offset, table in self._chunks(path, roles, rows):
            frame = build_frame(
                table, roles, source=str(path), locate=locate, offset=offset, features=features,
                text_numbers=self._text_numbers,
            )
            features = frame.columns
            yield frame

    def locator(self, source: Any = None) -> Locator:
        """How messages name a row of the file: ``locator()(row)`` is ``"line N"`` for text
        files, ``"row N"`` for Parquet (rows counted from 0 in, from 1 in the text)."""
        return self._locator(resolve_path(source if source is not None else self.path))

    # -- per format ------------------------------------------------------------------------
    def _read(self, path: Path, roles: Roles) -> tuple[pa.Table, Locator]:
        raise NotImplementedError

    def _chunks(self, path: Path, roles: Roles, rows: int) -> Iterator[tuple[int, pa.Table]]:
        raise NotImplementedError

    def _locator(self, path: Path) -> Locator:
        return row_locator


class CsvLoader(FileLoader):
    """CSV file with a header row (``.csv`` or ``.csv.gz``).

    :param delimiter: the field separator (one character).
    :param encoding: the text encoding; UTF-8 (with or without a byte order mark) is read
        natively, others are transcoded.
    """

    delimiter: str
    encoding: str
    _text_numbers = True

    def __init__(
        self,
        path: str | None = None,
        columns: list[str] | None = None,
        timestamp_column: str | None = None,
        timestamp_unit: str | None = None,
        label_column: str | None = None,
        label_mapping: dict[str, int] | None = None,
        channel_column: str | None = None,
        extra_columns: list[str] | None = None,
        optional_columns: list[str] | None = None,
        delimiter: str = ",",
        encoding: str = "utf-8",
    ) -> None:
        keep_params(self, locals())

    def _read(self, path: Path, roles: Roles) -> tuple[pa.Table, Locator]:
        table = read_csv_table(path, self.delimiter, self.encoding, roles.special())
        return table, self._locator(path)

    def _chunks(self, path: Path, roles: Roles, rows: int) -> Iterator[tuple[int, pa.Table]]:
        return iter_csv_tables(path, rows, self.delimiter, self.encoding, roles.special())

    def _locator(self, path: Path) -> Locator:
        return csv_locator(path, self.delimiter, self.encoding)


class _JsonFileLoader(FileLoader):
    """JSON text in any encoding.

    :param encoding: the text encoding; UTF-8 (with or without a byte order mark) is read
        natively, others are decoded in memory first.
    """

    encoding: str

    def __init__(
        self,
        path: str | None = None,
        columns: list[str] | None = None,
        timestamp_column: str | None = None,
        timestamp_unit: str | None = None,
        label_column: str | None = None,
        label_mapping: dict[str, int] | None = None,
        channel_column: str | None = None,
        extra_columns: list[str] | None = None,
        optional_columns: list[str] | None = None,
        encoding: str = "utf-8",
    ) -> None:
        keep_params(self, locals())


class JsonlLoader(_JsonFileLoader):
    """JSON lines: one object per line (``.jsonl`` or ``.jsonl.gz``)."""

    def _read(self, path: Path, roles: Roles) -> tuple[pa.Table, Locator]:
        return read_jsonl_table(path, self.encoding), self._locator(path)

    def _chunks(self, path: Path, roles: Roles, rows: int) -> Iterator[tuple[int, pa.Table]]:
        return iter_jsonl_tables(path, rows, self.encoding)

    def _locator(self, path: Path) -> Locator:
        return json_line_locator(path, self.encoding)


class JsonLoader(_JsonFileLoader):
    """A JSON array of objects (``.json`` or ``.json.gz``); a file of JSON lines also reads."""

    def _read(self, path: Path, roles: Roles) -> tuple[pa.Table, Locator]:
        table, lines = read_json_array_table(path, roles.special(), self.encoding)
        return table, json_line_locator(path, self.encoding) if lines else json_record_locator

    def iter_chunks(self, rows: int, source: Any = None) -> Iterator[Frame]:
        """A JSON array is read whole and then cut into chunks of ``rows`` rows."""
        check_rows(rows)
        frame = self.load(source)
        for start in range(0, frame.n_rows, rows):
            yield frame.take(slice(start, start + rows))


class ParquetLoader(FileLoader):
    """Parquet file (``.parquet``; ``.parquet.gz`` is decompressed into memory first)."""

    def _needed(self, path: Path, roles: Roles) -> list[str] | None:
        """Only the columns in use, when the features are listed and all exist."""
        if roles.columns is None:
            return None
        names = parquet_names(path)
        present = roles.present(names)  # live data may lack an optional label or extra
        label = present.label_for(names)
        wanted = [*roles.columns, *present.special(), *([label] if label else [])]
        # With a column absent, read everything so that the error lists what exists.
        return wanted if all(c in names for c in wanted) else None

    def _read(self, path: Path, roles: Roles) -> tuple[pa.Table, Locator]:
        return read_parquet_table(path, self._needed(path, roles)), row_locator

    def _chunks(self, path: Path, roles: Roles, rows: int) -> Iterator[tuple[int, pa.Table]]:
        return iter_parquet_tables(path, rows, self._needed(path, roles))


class MemoryLoader(_RoleLoader):
    """A loader of data already in memory: ``Pipeline.run(data=...)`` or ``load(source)``.

    Takes the same column-role parameters as the file loaders.

    :param data: the data, when it is given in the config rather than at run time.
    """

    data: Any
    kind = "data"

    def __init__(
        self,
        data: Any = None,
        columns: list[str] | None = None,
        timestamp_column: str | None = None,
        timestamp_unit: str | None = None,
        label_column: str | None = None,
        label_mapping: dict[str, int] | None = None,
        channel_column: str | None = None,
        extra_columns: list[str] | None = None,
        optional_columns: list[str] | None = None,
    ) -> None:
        keep_params(self, locals())

    def load(self, source: Any = None) -> Frame:
        """Turn the data into a :class:`Frame`; errors name the record or row (from 1).

        :raises DataError: for no data, or data that does not fit the roles.
        """
        data = source if source is not None else self.data
        if data is None:
            raise DataError(f"{self.kind} loader: nothing to load (pass data= or loader.data)")
        return self._frame(data, self._roles_for(data))

    def _roles_for(self, data: Any) -> Roles:
        return self.roles()

    def _frame(self, data: Any, roles: Roles) -> Frame:
        raise NotImplementedError


class RecordsLoader(MemoryLoader):
    """An in-memory list of dicts, one per row: ``Pipeline.run(data=records)``."""

    kind = "records"

    def _frame(self, data: Any, roles: Roles) -> Frame:
        text = [c for c in roles.special() if c != roles.label_column or roles.label_mapping]
        table = records_table(data, "<records>", record_locator, text)
        return build_frame(
            table, roles, source="<records>", locate=record_locator, text_numbers=False
        )


class ArrayLoader(MemoryLoader):
    """A numpy array or a pandas or polars DataFrame in memory: ``Pipeline.run(data=array)``.

    For a numpy array, ``columns`` names all of its columns (default ``f0``, ``f1``, ...) and
    the role parameters pick among those names; every column without a role is a feature.
    For a DataFrame, ``columns`` are the feature columns, as for the file loaders.
    """

    kind = "array"

    def _roles_for(self, data: Any) -> Roles:
        if is_dataframe(data):
            return self.roles()
        # ``columns`` names the array's columns here; the features are those without a role.
        params = {k: getattr(self, k) for k in ROLE_PARAMS}
        return Roles.from_params(**{**params, "columns": None})

    def _frame(self, data: Any, roles: Roles) -> Frame:
        table = array_table(data, None if is_dataframe(data) else self.columns)
        return build_frame(table, roles, source="<array>", locate=row_locator)
