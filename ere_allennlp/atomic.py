"""Writes that leave no half-written file: the one definition every writer of the package uses
(the study's results, archive configs and manifests, RNG states, `allennlp predict` output)."""
import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, Union


def temporary_path(path: Union[str, Path]) -> Path:
    """Where a write of `path` goes first: a hidden file beside it, named per process (two
    processes writing the same file never share a temporary file)."""
    path = Path(path).absolute()
    return path.with_name(f".tmp.{os.getpid()}.{path.name}")


def commit(temporary: Union[str, Path], path: Union[str, Path]) -> None:
    """Renames a finished temporary file onto `path` (atomic on one file system)."""
    os.replace(temporary, path)


def discard(temporary: Union[str, Path]) -> None:
    """Removes an unfinished temporary file, if it is there."""
    if os.path.exists(temporary):
        os.remove(temporary)


@contextlib.contextmanager
def atomic_path(path: Union[str, Path]) -> Iterator[Path]:
    """A temporary path beside `path` to write to, renamed to `path` when the block ends without
    an error: a run that stops leaves no half-written file (and an existing `path` as it was)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    try:
        yield temporary
        commit(temporary, path)
    finally:
        discard(temporary)


def atomic_json(path: Union[str, Path], data: Any) -> None:
    """Writes `data` as JSON through `atomic_path`."""
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
