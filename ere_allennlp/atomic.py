"""Writes that leave no half-written file: the study's results, archive configs and manifests."""
import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, Union


@contextlib.contextmanager
def atomic_path(path: Union[str, Path]) -> Iterator[Path]:
    """A temporary path beside `path` to write to, renamed to `path` when the block ends without
    an error: a run that stops leaves no half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".tmp.{path.name}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def atomic_json(path: Union[str, Path], data: Any) -> None:
    """Writes `data` as JSON through `atomic_path`."""
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
