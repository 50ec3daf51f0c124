"""`allennlp predict` writes its output file atomically, and tells the predictor where each input
line comes from.

AllenNLP 2.10's ``_PredictManager`` opens ``--output-file`` at once and writes each prediction as
it goes, so a failure midway leaves a half-written file behind; it offers no hook to change that.
Importing ``ere_allennlp`` therefore patches it (once, for every predictor):

- the output goes to a temporary file beside the target (``.<name>.<pid>.tmp``), which is renamed
  onto the target when the run succeeds and deleted when it fails (an existing target is then
  left as it was);
- before each JSON input line is loaded, a predictor with an ``input_location`` attribute (the
  ``ere`` predictor) gets ``<input file>:<line number>``, so its messages name the line.
"""
import os
import sys
from typing import Any, Iterator, Optional

from allennlp.common.file_utils import cached_path, open_compressed
from allennlp.commands import predict

_PATCHED = "_ere_atomic_output"


def _temporary_path(target: str) -> str:
    folder, name = os.path.split(os.path.abspath(target))
    return os.path.join(folder, f".{name}.{os.getpid()}.tmp")


def _discard(manager: Any) -> None:
    output = getattr(manager, "_output_file", None)
    if output is not None:
        output.close()
    temporary = getattr(manager, "_ere_temporary_path", None)
    if temporary is not None and os.path.exists(temporary):
        os.remove(temporary)


def _patch() -> None:
    manager_class = predict._PredictManager
    if getattr(manager_class, _PATCHED, False):
        return
    original_init = manager_class.__init__
    original_run = manager_class.run

    def __init__(self, predictor: Any, input_file: str, output_file: Optional[str], *args: Any, **kwargs: Any) -> None:
        self._ere_target_path = output_file
        self._ere_temporary_path = None if output_file is None else _temporary_path(output_file)
        try:
            original_init(self, predictor, input_file, self._ere_temporary_path, *args, **kwargs)
        except BaseException:
            _discard(self)
            raise

    def run(self) -> None:
        try:
            original_run(self)
        except BaseException:
            _discard(self)
            raise
        if self._ere_temporary_path is not None:
            if self._output_file is not None and not self._output_file.closed:
                self._output_file.close()
            os.replace(self._ere_temporary_path, self._ere_target_path)

    def _get_json_data(self) -> Iterator[Any]:
        numbered = hasattr(self._predictor, "input_location")
        if self._input_file == "-":
            name, lines = "<stdin>", sys.stdin
            yield from _load(self, name, lines, numbered)
        else:
            with open_compressed(cached_path(self._input_file)) as lines:
                yield from _load(self, self._input_file, lines, numbered)

    manager_class.__init__ = __init__
    manager_class.run = run
    manager_class._get_json_data = _get_json_data
    setattr(manager_class, _PATCHED, True)


def _load(manager: Any, name: str, lines: Any, numbered: bool) -> Iterator[Any]:
    for line_number, line in enumerate(lines, start=1):
        if not line.isspace():
            if numbered:
                manager._predictor.input_location = f"{name}:{line_number}"
            yield manager._predictor.load_line(line)


_patch()
