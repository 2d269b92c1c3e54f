"""Registers the built-in loaders: files (csv, json, jsonl, parquet), memory, synthetic.

The implementation lives in :mod:`astraguard_train.data.loaders`.
"""

from __future__ import annotations

from typing import Any

from ..data.loaders import (
    ArrayLoader,
    CsvLoader,
    JsonlLoader,
    JsonLoader,
    ParquetLoader,
    RecordsLoader,
    SyntheticLoader,
)
from ..plugins.hookspecs import hookimpl


@hookimpl
def register_loaders(register: Any) -> None:
    register("synthetic", SyntheticLoader)
    register("csv", CsvLoader)
    register("json", JsonLoader)
    register("jsonl", JsonlLoader)
    register("parquet", ParquetLoader)
    register("records", RecordsLoader)
    register("array", ArrayLoader)
