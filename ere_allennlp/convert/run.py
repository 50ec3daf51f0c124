"""`convert`: one conversion from brat, SpERT or DyGIE to DyGIE or brat, written atomically,
with the report of what was read, written and not carried over (``allennlp ere-convert`` calls it).

    from ere_allennlp.convert.run import convert

    report = convert("spert", "dygie", ["conll04/train.json"], "converted/train.json")
    print(report.format())
"""
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ere_allennlp.atomic import temporary_path
from ere_allennlp.convert.brat_to_dygie import read_brat
from ere_allennlp.convert.dygie import read_dygie, write_dygie
from ere_allennlp.convert.dygie_to_brat import write_brat_files
from ere_allennlp.convert.keys import UniqueKeys
from ere_allennlp.convert.report import ConvertError, Report
from ere_allennlp.convert.spert import read_spert

SOURCES = ("brat", "spert", "dygie")
TARGETS = ("dygie", "brat")


def convert(source: str, target: str, inputs: Sequence[str], output: str, text_dir: Optional[str] = None,
            annotations: str = "auto", force: bool = False) -> Report:
    """Converts `inputs` from the format `source` to `target`, writing `output`, and returns the report.

    # Parameters

    source : `str`
        ``brat`` (folders, or ``.txt`` / ``.ann`` files), ``spert`` (SpERT JSON files) or ``dygie``
        (DyGIE JSON-lines files, gold or ``allennlp predict`` output).
    target : `str`
        ``dygie`` (`output` is one JSON-lines file) or ``brat`` (`output` is a folder).
    inputs : `Sequence[str]`
        The files or folders to read; several are concatenated in the order given.
    text_dir : `str`, optional
        For ``brat`` output: a folder with each document's original ``<doc_key>.txt``.
    annotations : `str`
        For ``brat`` output: ``auto``, ``gold`` or ``predicted`` (see `dygie_to_brat`).
    force : `bool`
        Replace an existing `output`; without it an existing output is an error.

    A ConvertError (file, record or line, field) stops the run before anything is written.
    """
    if source not in SOURCES or target not in TARGETS or source == target:
        raise ConvertError(f"cannot convert {source!r} to {target!r}: sources are {', '.join(SOURCES)}, "
                           f"targets {', '.join(TARGETS)}, and they differ")
    if not inputs:
        raise ConvertError("no input given")
    if os.path.exists(output) and not force:
        raise ConvertError(f"{output}: exists (give force=True / --force to replace it)")
    report = Report(source, target)
    documents = _read(source, inputs, report)
    if target == "dygie":
        if os.path.isdir(output):
            raise ConvertError(f"{output}: is a folder; DyGIE output is one JSON-lines file")
        write_dygie([_plain(d) for d in documents], output, report)
    else:
        _write_brat_folder(documents, output, text_dir, annotations, report)
    return report


def _read(source: str, inputs: Sequence[str], report: Report) -> List[Dict[str, Any]]:
    keys = UniqueKeys()
    if source == "brat":
        return [dict(d, _where=d["doc_key"]) for d in read_brat(inputs, report, keys)]
    documents = []
    for path in inputs:
        if source == "spert":
            documents += [dict(d, _where=f"{path}: record {n}") for n, d in enumerate(read_spert(path, report, keys))]
        else:
            documents += read_dygie(path, report)
    return documents


def _plain(document: Dict[str, Any]) -> Dict[str, Any]:
    return {key: value for key, value in document.items() if not key.startswith("_")}


def _write_brat_folder(documents: List[Dict[str, Any]], output: str, text_dir: Optional[str], annotations: str,
                       report: Report) -> None:
    """Writes the brat files into a temporary folder beside `output`, then moves it onto `output`
    (an existing `output`, with force, is replaced only once the new one is complete)."""
    temporary = temporary_path(output)
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        write_brat_files(documents, Path(temporary), text_dir, annotations, report)
        if os.path.exists(output):
            old = temporary.with_name(temporary.name + ".old")
            os.replace(output, old)
            os.replace(temporary, output)
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        else:
            os.replace(temporary, output)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
