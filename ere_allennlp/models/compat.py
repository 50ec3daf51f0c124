"""Everything that keeps archives and studies of earlier versions of this package working, in one
place (each entry says what it is for, so it can be dropped when those files no longer matter):

- the registered names modules had before the names were unified (``ec_ri``, ``ner_ri``,
  ``ec_re``, ``ner_re``), so that their archives' configs still build;
- approach archives of the path-based layout (stages named by a path outside the archive): loaded
  with a warning where the path exists, refused with what to do where it does not
  (`check_stage_path`), and that layout's files removed when such a folder is rebuilt
  (`remove_path_layout_files`);
- study folders written before ``ere_study_done.json`` existed: a finished training is recognised
  by its archive being whole (`archive_complete`), once.
"""
import logging
import os
import shutil
from pathlib import Path
from typing import Optional

from allennlp.common.checks import ConfigurationError
from allennlp.models.model import Model

from ere_allennlp import archival
from ere_allennlp.models.modules import EcRe, EcRi, NerRe, NerRi

logger = logging.getLogger(__name__)

# Module names of archives trained before the names were unified -> the module they build.
OLD_MODULE_NAMES = {"ec_ri": EcRi, "ner_ri": NerRi, "ec_re": EcRe, "ner_re": NerRe}
for _name, _module in OLD_MODULE_NAMES.items():
    Model.register(_name)(_module)

# Files of a path-based approach folder that a rebuilt (portable) one must not keep.
PATH_LAYOUT_FILES = ("weights.th", "vocabulary")


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(folder)


def check_stage_path(path: str, loaded_from: Optional[str]) -> None:
    """A stage archive named by an approach config: refused with what to do when it is missing; a
    warning when an approach archive (loaded from `loaded_from`) reads it from outside itself, as
    path-based approach archives do."""
    if not os.path.exists(path):
        raise ConfigurationError(
            f"stage archive not found: {path}. Approach archives built before ere_allennlp stored their "
            f"stages inside them find their stages by such a path; rebuild the approach with "
            f"`allennlp ere-approach <approach config> -s <folder>` from the module archives, and the new "
            f"archive holds its stages"
        )
    if loaded_from is not None and not _inside(path, str(loaded_from)):
        logger.warning(
            "this approach archive reads its stage %s from outside itself (an archive built before stages "
            "were stored inside); rebuild it with `allennlp ere-approach` to make it one portable file", path
        )


def remove_path_layout_files(serialization_dir: str) -> None:
    """Removes the files of the path-based layout from an approach folder being rebuilt."""
    for stale in PATH_LAYOUT_FILES:
        path = os.path.join(serialization_dir, stale)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def archive_complete(archive: Path) -> bool:
    """Whether a training archive of a study written before the done-marker existed is whole (its
    gzip stream reads to the end)."""
    return archival.complete(str(archive))
