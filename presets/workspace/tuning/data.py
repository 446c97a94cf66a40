"""Training data from the data directory: parquet, jsonl, json or csv files.

Rows come in one of two shapes, both turned into OpenAI-style `messages` so that tuning uses
the same chat template as serving: a messages column, or a context column with a response
column. A response column alone (KAITO's default `text`) is trained as plain text.
Each row is checked up front, so that a bad row fails the job at once with its number,
not hours later inside the trainer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.logs import log_fields

from .config import DatasetConfig
from .errors import DatasetError

log = logging.getLogger(__name__)

_LOADERS = {"json": "json", "jsonl": "json", "csv": "csv", "parquet": "parquet"}
ROLES = ("system", "user", "assistant", "tool", "developer")


@dataclass
class PreparedData:
    train: Any  # datasets.Dataset
    eval: Any | None
    kind: str  # "messages" or "text"


def find_files(root: Path, config: DatasetConfig) -> tuple[list[Path], str]:
    target = root / config.dataset_path if config.dataset_path else root
    if not target.exists():
        raise DatasetError(f"dataset path {target} does not exist")
    if target.is_file():
        files = [target]
    else:
        files = sorted(p for p in target.rglob("*") if p.is_file() and not p.name.startswith("."))
    wanted = config.dataset_extension
    files = [p for p in files if (_ext(p) == wanted if wanted else _ext(p) in _LOADERS)]
    if not files:
        want = f"*.{wanted}" if wanted else "parquet, jsonl, json or csv files"
        raise DatasetError(f"no {want} found under {target}")
    kinds = {_LOADERS.get(_ext(p), "") for p in files}
    if "" in kinds:
        raise DatasetError(f"{files[0]}: extension not one of {', '.join(_LOADERS)}")
    if len(kinds) > 1:
        raise DatasetError(
            f"mixed file types under {target} ({', '.join(sorted(kinds))}); "
            "set DatasetConfig.dataset_extension to pick one"
        )
    return files, kinds.pop()


def _ext(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def load_rows(files: list[Path], loader: str) -> Any:
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(loader, data_files=[str(f) for f in files], split="train")
    except Exception as err:  # the datasets library raises many kinds; all mean "unreadable"
        names = ", ".join(f.name for f in files)
        raise DatasetError(f"cannot read {names} as {loader}: {_root_cause(err)}") from None


def _root_cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return f"{type(err).__name__}: {err}"


def _check_messages(row: int, value: Any) -> list[dict[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise DatasetError(f"row {row}: messages is a string but not JSON: {err}") from None
    if not isinstance(value, list) or not value:
        raise DatasetError(f"row {row}: messages must be a non-empty list of {{role, content}}")
    out: list[dict[str, str]] = []
    for i, msg in enumerate(value):
        if not isinstance(msg, dict):
            raise DatasetError(f"row {row}: messages[{i}] must be an object with role and content")
        role, content = msg.get("role"), msg.get("content")
        if role not in ROLES:
            raise DatasetError(
                f"row {row}: messages[{i}].role is {role!r}; expected one of {', '.join(ROLES)}"
            )
        if not isinstance(content, str) or not content.strip():
            raise DatasetError(f"row {row}: messages[{i}].content must be a non-empty string")
        out.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in out):
        raise DatasetError(f"row {row}: messages has no assistant message to learn from")
    return out


def _check_text(row: int, column: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"row {row}: column {column!r} must be a non-empty string, got {value!r}")
    return value


def normalize(ds: Any, config: DatasetConfig) -> tuple[Any, str]:
    """Checks every row; returns a dataset with a `messages` or a `text` column only."""
    import datasets

    columns: list[str] = list(ds.column_names)
    messages_col = config.messages_column or ("messages" if "messages" in columns else None)
    rows: Iterable[dict[str, Any]] = ds
    if messages_col is not None:
        if messages_col not in columns:
            raise DatasetError(
                f"DatasetConfig.messages_column {messages_col!r} is not a column; found {columns}"
            )
        msgs = [_check_messages(i + 1, r[messages_col]) for i, r in enumerate(rows)]
        return datasets.Dataset.from_dict({"messages": msgs}), "messages"
    response = config.response_column
    if response not in columns:
        raise DatasetError(
            f"the dataset has columns {columns} but no messages column and no response column "
            f"{response!r} (DatasetConfig.response_column)"
        )
    if config.context_column is not None:
        ctx = config.context_column
        if ctx not in columns:
            raise DatasetError(f"DatasetConfig.context_column {ctx!r} is not a column; found {columns}")
        msgs = [
            [
                {"role": "user", "content": _check_text(i + 1, ctx, r[ctx])},
                {"role": "assistant", "content": _check_text(i + 1, response, r[response])},
            ]
            for i, r in enumerate(rows)
        ]
        return datasets.Dataset.from_dict({"messages": msgs}), "messages"
    texts = [_check_text(i + 1, response, r[response]) for i, r in enumerate(rows)]
    return datasets.Dataset.from_dict({"text": texts}), "text"


def prepare(data_dir: str | Path, config: DatasetConfig) -> PreparedData:
    files, loader = find_files(Path(data_dir), config)
    raw = load_rows(files, loader)
    if len(raw) == 0:
        raise DatasetError(f"{', '.join(f.name for f in files)}: the dataset has no rows")
    ds, kind = normalize(raw, config)
    if config.shuffle_dataset:
        ds = ds.shuffle(seed=config.shuffle_seed)
    eval_ds = None
    if config.train_test_split < 1:
        if len(ds) < 2:
            raise DatasetError("DatasetConfig.train_test_split < 1 needs at least 2 rows")
        split = ds.train_test_split(train_size=config.train_test_split, seed=config.shuffle_seed)
        ds, eval_ds = split["train"], split["test"]
    log_fields(
        log,
        "dataset ready",
        files=[str(f) for f in files],
        kind=kind,
        train_rows=len(ds),
        eval_rows=len(eval_ds) if eval_ds is not None else 0,
    )
    return PreparedData(train=ds, eval=eval_ds, kind=kind)
