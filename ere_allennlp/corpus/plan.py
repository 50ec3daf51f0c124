"""What a corpus prediction job reads and writes: its input files cut into shards, its output
folder, and the manifest that lets a rerun continue the same job.

Layout of ``--output-dir DIR``::

    DIR/manifest.json                 the plan (inputs, shards, archive, options) and, once the job
                                      ends, its totals; a rerun refuses another job's folder
    DIR/shards/shard-<k>.jsonl        predictions of shard k, one line per non-blank input line, in
                                      input order; written atomically, so it exists only whole
    DIR/shards/shard-<k>.errors.jsonl error records of shard k's bad lines (written first)
    DIR/predictions.jsonl             ``--merge``: every shard's predictions in input order
    DIR/errors.jsonl                  ``--merge``: every error record in input order

A shard is ``shard_size`` consecutive lines of one input file (blank lines count but predict
nothing, as in ``allennlp predict``), found by its byte offset, so a worker reads only its shard.
"""
import contextlib
import glob
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ere_allennlp.atomic import atomic_json

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


class CorpusError(ValueError):
    """The job cannot run as asked (no input, an output folder of another job)."""


@dataclass
class InputFile:
    path: str  # as the user named it (or the glob found it): the key of its output lines
    absolute: str  # where the workers read it
    size: int
    mtime_ns: int
    lines: int


@dataclass
class Shard:
    index: int
    file: int  # index into the plan's inputs
    first_line: int  # 1-based line number of its first line
    lines: int  # input lines, blank ones included
    documents: int  # non-blank lines: the records it predicts
    offset: int  # byte offset of its first line
    end: int  # byte offset after its last line


def expand_inputs(patterns: Sequence[str]) -> List[str]:
    """Files and globs -> files, in the order given (a glob's matches sorted), each once."""
    files: List[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            if not matches:
                raise CorpusError(f"no input file matches {pattern!r}")
        elif os.path.isfile(pattern):
            matches = [pattern]
        else:
            raise CorpusError(f"input file not found: {pattern} (relative paths are read from {os.getcwd()})")
        files.extend(m for m in matches if m not in files)
    return files


def scan(path: str, shard_size: int, file_index: int, first_shard: int) -> Tuple[InputFile, List[Shard]]:
    """One pass over `path`: its shards (byte ranges of `shard_size` lines) and line counts."""
    shards: List[Shard] = []
    absolute = os.path.abspath(path)
    stat = os.stat(absolute)
    line = 0
    offset = 0
    start_offset, start_line, documents = 0, 1, 0
    with open(absolute, "rb") as handle:
        for raw in handle:
            line += 1
            offset += len(raw)
            if raw.strip():
                documents += 1
            if line - start_line + 1 == shard_size:
                shards.append(Shard(first_shard + len(shards), file_index, start_line, shard_size, documents, start_offset, offset))
                start_offset, start_line, documents = offset, line + 1, 0
    if line >= start_line:
        shards.append(Shard(first_shard + len(shards), file_index, start_line, line - start_line + 1, documents, start_offset, offset))
    return InputFile(path, absolute, stat.st_size, stat.st_mtime_ns, line), shards


@dataclass
class CorpusPlan:
    archive: Dict[str, Any]  # path, size, mtime_ns of the model archive
    inputs: List[InputFile]
    shards: List[Shard]
    shard_size: int

    @classmethod
    def make(cls, archive: str, patterns: Sequence[str], shard_size: int, known: Optional["CorpusPlan"] = None) -> "CorpusPlan":
        """Plans the job; a file `known` (the folder's recorded plan) scanned with the same size,
        modification time and shard size is not read again."""
        if shard_size < 1:
            raise CorpusError(f"--shard-size must be >= 1, got {shard_size}")
        if not os.path.isfile(archive):
            raise CorpusError(f"archive not found: {archive}")
        inputs: List[InputFile] = []
        shards: List[Shard] = []
        for n, path in enumerate(expand_inputs(patterns)):
            stat = os.stat(path)
            seen = None
            if known is not None and known.shard_size == shard_size:
                seen = next((i for i in known.inputs if (i.path, i.size, i.mtime_ns) == (path, stat.st_size, stat.st_mtime_ns)), None)
            if seen is not None:
                old = known.inputs.index(seen)
                more = [replace(s, index=len(shards) + k, file=n) for k, s in enumerate(x for x in known.shards if x.file == old)]
                found = seen
            else:
                found, more = scan(path, shard_size, n, len(shards))
            inputs.append(found)
            shards.extend(more)
        stat = os.stat(archive)
        return cls({"path": os.path.abspath(archive), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
                   inputs, shards, shard_size)

    def record(self) -> Dict[str, Any]:
        return {"format": MANIFEST_FORMAT, "archive": self.archive, "shard_size": self.shard_size,
                "inputs": [asdict(i) for i in self.inputs], "shards": [asdict(s) for s in self.shards]}

    @classmethod
    def from_record(cls, record: Dict[str, Any]) -> "CorpusPlan":
        return cls(record["archive"], [InputFile(**i) for i in record["inputs"]],
                   [Shard(**s) for s in record["shards"]], record["shard_size"])

    def differences(self, other: "CorpusPlan") -> List[str]:
        """What makes `other` (a folder's recorded plan) another job than this one."""
        changes = []
        if self.archive != other.archive:
            changes.append(f"archive {other.archive['path']} -> {self.archive['path']} (or it changed)")
        if self.shard_size != other.shard_size:
            changes.append(f"shard size {other.shard_size} -> {self.shard_size}")
        mine = [(i.path, i.size, i.mtime_ns) for i in self.inputs]
        theirs = [(i.path, i.size, i.mtime_ns) for i in other.inputs]
        if mine != theirs:
            changes.append("input files " + ", ".join(p for p, *_ in theirs) + " -> " + ", ".join(p for p, *_ in mine)
                           + " (or one of them changed)")
        return changes


class CorpusFolder:
    """The output folder of one job (see the module docstring)."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    def shard_file(self, shard: Shard) -> Path:
        return self.root / "shards" / f"shard-{shard.index:05d}.jsonl"

    def errors_file(self, shard: Shard) -> Path:
        return self.root / "shards" / f"shard-{shard.index:05d}.errors.jsonl"

    def done(self, shard: Shard) -> bool:
        return self.shard_file(shard).exists()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One job at a time in a folder (the kernel releases the lock of a killed process); files
        a killed job left half-written (``.tmp.*``, never taken as done) are removed."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise CorpusError(f"another ere-predict-corpus job is running in {self.root}") from None
        try:
            for stale in (self.root / "shards").glob(".tmp.*"):
                stale.unlink()
            yield
        finally:
            lock.release()

    def recorded_plan(self) -> Optional[CorpusPlan]:
        if not self.manifest.exists():
            return None
        with open(self.manifest, encoding="utf-8") as handle:
            return CorpusPlan.from_record(json.load(handle)["plan"])

    def open_plan(self, plan: CorpusPlan, options: Dict[str, Any]) -> None:
        """Starts the job in this folder, or continues it if the folder holds the same job."""
        recorded = self.recorded_plan()
        if recorded is not None:
            changes = plan.differences(recorded)
            if changes:
                raise CorpusError(f"{self.root} holds another corpus job ({'; '.join(changes)}); "
                                  "use another --output-dir, or the same archive, inputs and --shard-size to resume it")
        elif self.root.exists() and any(p.name != ".lock" for p in self.root.iterdir()):
            raise CorpusError(f"{self.root} is not empty and holds no {MANIFEST}: use a new --output-dir")
        (self.root / "shards").mkdir(parents=True, exist_ok=True)
        atomic_json(self.manifest, {"plan": plan.record(), "options": options, "finished": None})
