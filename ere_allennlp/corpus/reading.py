"""The reading step of corpus prediction: standard library only, as Ray sends it by value to
tasks that never import the package (``ere_allennlp.corpus.job``)."""
from typing import Any, Dict, Iterator


def read_shard(item: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """A shard (a row of the plan, with ``absolute`` the file to read) -> a row per non-blank
    line: shard index, line number, text."""
    with open(item["absolute"], "rb") as handle:
        handle.seek(item["offset"])
        data = handle.read(item["end"] - item["offset"])
    for k, raw in enumerate(data.splitlines(keepends=True)):
        if raw.strip():
            yield {"shard": item["index"], "line": item["first_line"] + k, "text": raw.decode("utf-8", errors="replace")}
