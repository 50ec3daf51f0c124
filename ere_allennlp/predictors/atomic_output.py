"""`allennlp predict` with the ``ere`` predictor writes its output file atomically, and tells the
predictor where each input line comes from.

AllenNLP 2.10's ``_PredictManager`` opens ``--output-file`` at once and writes each prediction as
it goes, so a failure midway leaves a half-written file behind; it offers no hook to change that.
`install` (called when the first ``ere`` predictor is built, never at import) therefore wraps three
of its methods, and the wrappers act only for a manager whose predictor is of a class given to
`install` (the ``ere`` predictor gives its own, ``ErePredictor``; this module imports no
predictor): other predictors, other plugins' included, run AllenNLP's code unchanged. For those
predictors:

- the output goes to a temporary file beside the target (``ere_allennlp.atomic``), which is renamed
  onto the target when the run succeeds and deleted when it fails (an existing target is then
  left as it was);
- before each JSON input line is loaded, a predictor with an ``input_location`` attribute (the
  ``ere`` predictor) gets ``<input file>:<line number>``, so its messages name the line.
"""
import sys
from typing import Any, Iterator, Optional, Tuple

from allennlp.common.file_utils import cached_path, open_compressed
from ere_allennlp import atomic
from ere_allennlp.allennlp_internals import (
    predict_manager_class, predict_manager_input_file, predict_manager_json_data, predict_manager_output_file,
    predict_manager_predictor, replace_predict_manager_json_data,
)

_PATCHED = "_ere_atomic_output"
# The predictor classes the wrappers act for: those given to `install`, in this process.
_PREDICTOR_CLASSES: Tuple[type, ...] = ()


def _discard(manager: Any) -> None:
    output = predict_manager_output_file(manager)
    if output is not None:
        output.close()
    temporary = getattr(manager, "_ere_temporary_path", None)
    if temporary is not None:
        atomic.discard(temporary)


def _ours(predictor: Any) -> bool:
    return isinstance(predictor, _PREDICTOR_CLASSES)


def install(*predictor_classes: type) -> None:
    """Wraps ``_PredictManager`` once per process (see the module docstring); the wrappers act for
    the predictors of `predictor_classes` (and of earlier calls' classes), subclasses included."""
    global _PREDICTOR_CLASSES
    _PREDICTOR_CLASSES += tuple(c for c in predictor_classes if c not in _PREDICTOR_CLASSES)
    manager_class = predict_manager_class()
    if getattr(manager_class, _PATCHED, False):
        return
    original_init = manager_class.__init__
    original_run = manager_class.run
    original_get_json_data = predict_manager_json_data(manager_class)

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
            output = predict_manager_output_file(self)
            if output is not None and not output.closed:
                output.close()
            atomic.commit(self._ere_temporary_path, self._ere_target_path)

    def _get_json_data(self) -> Iterator[Any]:
        if not hasattr(self, "_ere_temporary_path"):
            yield from original_get_json_data(self)
            return
        predictor = predict_manager_predictor(self)
        numbered = hasattr(predictor, "input_location")
        input_file = predict_manager_input_file(self)
        if input_file == "-":
            name, lines = "<stdin>", sys.stdin
            yield from _load(predictor, name, lines, numbered)
        else:
            with open_compressed(cached_path(input_file)) as lines:
                yield from _load(predictor, input_file, lines, numbered)

    manager_class.__init__ = __init__
    manager_class.run = run
    replace_predict_manager_json_data(manager_class, _get_json_data)
    setattr(manager_class, _PATCHED, True)


def _load(predictor: Any, name: str, lines: Any, numbered: bool) -> Iterator[Any]:
    for line_number, line in enumerate(lines, start=1):
        if not line.isspace():
            if numbered:
                predictor.input_location = f"{name}:{line_number}"
            yield predictor.load_line(line)
