"""One entry point from the `data` config group to a Dataset, whatever the source format."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kgrec.data.dataset import Dataset
from kgrec.errors import KgrecError

log = logging.getLogger(__name__)


COMMON_OPTIONS = {"format", "name", "path", "on_error"}
OPTIONS = {
    "bundle": COMMON_OPTIONS | {"kg"},  # bundles are UTF-8 by definition
    "tables": COMMON_OPTIONS | {"encoding", "interactions", "items", "tags", "kg", "split"},
    "recbole": COMMON_OPTIONS | {"encoding", "dataset_name", "min_rating", "split"},
}


def check_data_options(config: dict[str, Any]) -> None:
    """Refuse a misspelt `data` option before anything is read (a silently ignored option is a wrong experiment)."""
    source = config.get("format")
    if source not in OPTIONS:
        raise KgrecError(f"data.format must be one of {sorted(OPTIONS)}, got {source!r}")
    unknown = sorted(set(config) - OPTIONS[source])
    if unknown:
        raise KgrecError(f"data: unknown option(s) {unknown} for format {source}; it takes {sorted(OPTIONS[source])}")


def load_dataset(config: dict[str, Any]) -> Dataset:
    """`config` is the resolved `data` group: `format` is bundle, tables or recbole (see conf/data/)."""
    check_data_options(config)
    path = Path(config["path"]).expanduser()
    if not path.is_dir():
        raise KgrecError(f"data.path: directory {path} does not exist")
    source = config["format"]
    on_error = config.get("on_error", "raise")
    if source == "bundle":
        from kgrec.data.bundle import load_bundle

        data = load_bundle(path, on_error=on_error, kg=config.get("kg"))
    elif source == "tables":
        from kgrec.data.raw import load_tables

        data = load_tables(
            config["interactions"], config.get("items"), config.get("tags"), config.get("kg"), config["split"],
            name=path.name, base_dir=path, on_error=on_error,
            encoding=config.get("encoding", "utf-8"),
        )
    elif source == "recbole":
        from kgrec.data.recbole import load_recbole

        data = load_recbole(path, config.get("dataset_name"), split=config["split"],
                            min_rating=config.get("min_rating", 4.0), on_error=on_error,
                            encoding=config.get("encoding", "utf-8"))
    if config.get("name"):
        data.name = config["name"]
    log.info(data.summary())
    return data
