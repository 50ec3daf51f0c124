"""`allennlp predict` with the ``ere`` predictor writes its output file atomically, and tells the
predictor where each input line comes from.

AllenNLP 2.10's ``_PredictManager`` opens ``--output-file`` at once and writes each prediction as
it goes, so a failure midway leaves a half-written file behind; it offers no hook to change that.
`install` (called when the first ``ere`` predictor is built, never at import) therefore wraps three
of its methods, and the wrappers act only for a manager whose predictor is an ``ErePredictor``:
other predictors, other plugins' included, run AllenNLP's code unchanged. For this package's
predictor:

- the output goes to a temporary file beside the target (``ere_allennlp.atomic``), which is renamed
  onto the target when the run succeeds and deleted when it fails (an existing target is then
  left as it was);
- before each JSON input line is loaded, a predictor with an ``input_location`` attribute (the
  ``ere`` predictor) gets ``<input file>:<line number>``, so its messages name the line.
"""
import sys
from typing import Any, Iterator, Optional

from allennlp.common.file_utils import cached_path, open_compressed
from ere_allennlp import atomic
from ere_allennlp.allennlp_internals import predict_manager_class

_PATCHED = "_ere_atomic_output"


def _discard(manager: Any) -> None:
    output = getattr(manager, "_output_file", None)
    if output is not None:
        output.close()
    temporary = getattr(manager, "_ere_temporary_path", None)
    if temporary is not None:
        atomic.discard(temporary)


def _ours(predictor: Any) -> bool:
    from ere_allennlp.predictors.ere import ErePredictor

    return isinstance(predictor, ErePredictor)


def install() -> None:
    """Wraps ``_PredictManager`` once per process (see the module docstring)."""
    manager_class = predict_manager_class()
    if getattr(manager_class, _PATCHED, False):
        return
    original_init = manager_class.__init__
    original_run = manager_class.run
    original_get_json_data = manager_class._get_json_data

    def __init__(self, predictor: Any, input_file: str, output_file: Optional[str], *args: Any, **kwargs: Any) -> None:
        if not _ours(predictor):
            original_init(self, predictor, input_file, output_file, *args, **kwargs)
            return
        self._ere_target_path = output_file
        self._ere_temporary_path = None if output_file is None else str(atomic.temporary_path(output_file))
        try:
            original_init(self, predictor, input_file, self._ere_temporary_path, *args, **kwargs)
        except BaseException:
            _discard(self)
            raise

    def run(self) -> None:
        if not hasattr(self, "_ere_temporary_path"):
            original_run(self)
            return
        try:
            original_run(self)
        except BaseException:
            _discard(self)
            raise
        if self._ere_temporary_path is not None:
            if self._output_file is not None and not self._output_file.closed:
                self._output_file.close()
            atomic.commit(self._ere_temporary_path, self._ere_target_path)

    def _get_json_data(self) -> Iterator[Any]:
        if not hasattr(self, "_ere_temporary_path"):
            yield from original_get_json_data(self)
            return
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
