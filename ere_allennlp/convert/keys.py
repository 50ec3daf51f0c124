"""Document keys made unique, and file names made from them that are safe on any file system."""
import re
from typing import Set

_UNSAFE = re.compile(r"[^\w.\-]")
MAX_NAME = 200  # characters per path component (file systems allow 255 bytes)


class UniqueKeys:
    """Hands out keys never handed out before: a key already taken gets ``_2``, ``_3``, ...;
    with `case_insensitive`, keys differing only in case count as taken (file names on
    case-insensitive file systems)."""

    def __init__(self, case_insensitive: bool = False) -> None:
        self._taken: Set[str] = set()
        self._fold = case_insensitive

    def _norm(self, key: str) -> str:
        return key.lower() if self._fold else key

    def take(self, key: str) -> str:
        candidate, n = key, 1
        while self._norm(candidate) in self._taken:
            n += 1
            candidate = f"{key}_{n}"
        self._taken.add(self._norm(candidate))
        return candidate


def safe_name(doc_key: str) -> str:
    """A relative file path for a document key: ``/`` separates folders (a brat document
    ``sub/doc1`` comes back as ``sub/doc1.txt``); in each part, characters other than letters,
    digits, ``_``, ``.`` and ``-`` become ``_``, leading dots are dropped (no hidden file, no
    ``..``), an empty part becomes ``_`` and a long one is cut to MAX_NAME characters."""
    parts = [(_UNSAFE.sub("_", part).lstrip(".") or "_")[:MAX_NAME] for part in doc_key.split("/")]
    return "/".join(parts)
