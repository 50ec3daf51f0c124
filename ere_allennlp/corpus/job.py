"""Prediction over a whole corpus on Ray Data (``allennlp ere-predict-corpus``).

The pipeline: the unfinished shards of the plan (`ere_allennlp.corpus.plan`) -> ``flat_map``
`read_shard` (a task reads its shard's byte range: one row per non-blank line) ->
``map_batches`` `ShardPredictor` in a pool of ``num_workers`` actors, each loading the archive
once and running the ``ere`` predictor (the one ``allennlp predict`` runs) on ``batch_size``
lines of a shard at a time, from the shard's first line -> the driver, which collects each shard's rows and writes the shard's files
atomically once all its lines are in. A job killed at any moment leaves only whole shards; a
rerun predicts the others and so ends with the output of an uninterrupted run.

Each output line is what ``allennlp predict`` writes for that input line (``doc_key``,
``sentences``, ``predicted_ner``, ``predicted_relations``), plus ``input_file`` and
``input_line``. A bad line (malformed JSON, an invalid document, a document the model fails on)
becomes an error record ``{"input_file", "input_line", "doc_key", "error"}`` in the shard's
errors file, its message naming file, line and field, and the job goes on.
"""
import json
import logging
import os
import resource
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from ere_allennlp import archival
from ere_allennlp.atomic import atomic_json, atomic_path
from ere_allennlp.corpus import reading
from ere_allennlp.corpus.plan import CorpusFolder, CorpusPlan, Shard
from ere_allennlp.ray_support import check_reachable, cuda_device_in_task, ray_session, task_threads

logger = logging.getLogger(__name__)


class ShardPredictor:
    """A Ray Data actor: loads the archive once, then predicts batches of input lines.

    # Parameters

    archive : `str`
        A module or approach archive (``model.tar.gz``).
    paths : `List[str]`
        The input files as named by the user, by plan index: the keys of the output lines.
    shard_files : `Dict[int, int]`
        Shard index -> its input file's index.
    num_cpus : `float`
        CPUs the actor reserved: torch uses as many threads.
    cuda_device : `int`
        -1 for the CPU; 0 for the GPU Ray assigned the actor.
    batch_size : `int`, optional (default = `8`)
        Documents per prediction call, counted from each shard's first line.
    """

    def __init__(self, archive: str, paths: List[str], shard_files: Dict[int, int], num_cpus: float, cuda_device: int,
                 batch_size: int = 8) -> None:
        task_threads(num_cpus)
        self.batch_size = batch_size
        from allennlp.predictors import Predictor

        self.paths = paths
        self.shard_files = shard_files
        self.predictor = Predictor.from_archive(archival.load(archive, cuda_device=cuda_device), "ere",
                                                extra_args={"skip_bad_documents": True})

    def _records(self, texts: Sequence[str], wheres: Sequence[str]) -> List[Dict[str, Any]]:
        records = []
        for text, where in zip(texts, wheres):
            self.predictor.input_location = where
            records.append(self.predictor.load_line(text))
        return records

    def _predict(self, records: List[Dict[str, Any]], wheres: Sequence[str]) -> List[Dict[str, Any]]:
        try:
            return self.predictor.predict_batch_json(records)
        except Exception:  # one document the model fails on: find it, keep the others
            if len(records) == 1:
                import traceback

                error = traceback.format_exc(limit=1).strip().splitlines()[-1]
                return [{"doc_key": records[0].get("doc_key", wheres[0]), "error": f"{wheres[0]}: prediction failed: {error}"}]
            return [out for record, where in zip(records, wheres) for out in self._predict([record], [where])]

    def __call__(self, block: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """A block of rows (a shard, as `read_shard` made it) -> their output rows. The rows of each
        shard are predicted ``batch_size`` at a time from the shard's first row, so a shard's output
        never depends on which other shards run (a rerun gives the bytes an uninterrupted run gives)."""
        shards, lines, texts = block["shard"].tolist(), block["line"].tolist(), block["text"].tolist()
        outputs: List[str] = []
        errors: List[bool] = []
        start = 0
        while start < len(shards):
            end = start
            while end < len(shards) and shards[end] == shards[start] and end - start < self.batch_size:
                end += 1
            path = self.paths[self.shard_files[shards[start]]]
            wheres = [f"{path}:{line}" for line in lines[start:end]]
            for output, line in zip(self._predict(self._records(texts[start:end], wheres), wheres), lines[start:end]):
                output = dict(output)
                output["input_file"], output["input_line"] = path, line
                outputs.append(json.dumps(output))
                errors.append("error" in output and "sentences" not in output)
            start = end
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {
            "shard": np.asarray(shards, dtype=np.int64), "line": np.asarray(lines, dtype=np.int64),
            "output": np.asarray(outputs, dtype=object), "error": np.asarray(errors, dtype=bool),
            "worker": np.full(len(shards), os.getpid(), dtype=np.int64), "rss_mb": np.full(len(shards), rss_mb),
        }


@dataclass
class CorpusOptions:
    """How a job runs: what does not change its output (the manifest records it)."""

    num_workers: int = 1
    batch_size: int = 8
    gpus_per_worker: float = 0
    cpus_per_worker: float = 1
    address: Optional[str] = None
    num_cpus: Optional[int] = None  # of a local Ray
    progress: bool = True


@dataclass
class CorpusResult:
    """What one run of a job did (``manifest.json``, ``finished.last_run``; the command prints it)."""

    shards: int = 0
    shards_run: int = 0
    documents: int = 0
    errors: int = 0
    seconds: float = 0.0
    documents_per_second: float = 0.0
    startup_seconds: float = 0.0  # connecting to Ray and starting the pipeline, until the first rows
    workers: Dict[str, Dict[str, float]] = field(default_factory=dict)  # pid -> documents, peak RSS


def write_shard(folder: CorpusFolder, shard: Shard, rows: List[Tuple[int, str, bool]]) -> Tuple[int, int]:
    """Writes shard `shard` from its (line, output, is error) rows: errors first, then the
    predictions, whose file marks the shard done. Returns (documents, errors)."""
    rows.sort(key=lambda row: row[0])
    errors = [text for _, text, bad in rows if bad]
    with atomic_path(folder.errors_file(shard)) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.writelines(text + "\n" for text in errors)
    with atomic_path(folder.shard_file(shard)) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.writelines(text + "\n" for _, text, bad in rows if not bad)
    return len(rows) - len(errors), len(errors)


def predict_corpus(archive: str, inputs: Sequence[str], output_dir: str, shard_size: int = 1000,
                   options: Optional[CorpusOptions] = None, merge: bool = False) -> CorpusResult:
    """Runs (or continues) the job (see the module docstring); returns its totals."""
    options = options or CorpusOptions()
    if options.num_workers < 1 or options.batch_size < 1:
        raise ValueError("--num-workers and --batch-size must be >= 1")
    if not 0 <= options.gpus_per_worker <= 1:
        raise ValueError(f"--gpus-per-worker must be between 0 and 1 (a fraction shares a GPU), got {options.gpus_per_worker}")
    check_reachable(options.address)  # before the plan reads every input: an unreachable cluster fails at once
    folder = CorpusFolder(output_dir)
    plan = CorpusPlan.make(archive, inputs, shard_size, known=folder.recorded_plan())
    with folder.lock():
        return _predict(folder, plan, options, merge)


def _predict(folder: CorpusFolder, plan: CorpusPlan, options: CorpusOptions, merge: bool) -> CorpusResult:
    folder.open_plan(plan, {k: v for k, v in asdict(options).items() if k != "progress"})
    todo = [s for s in plan.shards if not folder.done(s)]
    result = CorpusResult(shards=len(plan.shards), shards_run=len(todo))
    for shard in [s for s in todo if s.documents == 0]:  # blank lines only
        write_shard(folder, shard, [])
    todo = [s for s in todo if s.documents > 0]
    logger.info("ere-predict-corpus: %d of %d shards done, %d to predict (%d documents)", len(plan.shards) - len(todo),
                len(plan.shards), len(todo), sum(s.documents for s in todo))
    started = time.time()
    if todo:
        _run(plan, folder, todo, options, result, started)
    result.seconds = time.time() - started
    result.documents_per_second = result.documents / result.seconds if result.seconds and result.documents else 0.0
    if merge:
        merge_shards(folder, plan)
    record = json.loads(folder.manifest.read_text(encoding="utf-8"))
    record["finished"] = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "last_run": asdict(result),
                          "totals": totals(folder, plan)}
    atomic_json(folder.manifest, record)
    return result


def actor_arguments(plan: CorpusPlan, todo: List[Shard], options: CorpusOptions) -> Dict[str, Any]:
    """What each `ShardPredictor` is built with: an actor given a GPU runs on it (index 0 of the
    CUDA_VISIBLE_DEVICES Ray sets), one without on the CPU."""
    return {"archive": plan.archive["path"], "paths": [i.path for i in plan.inputs],
            "shard_files": {s.index: s.file for s in todo}, "num_cpus": options.cpus_per_worker,
            "cuda_device": cuda_device_in_task(options.gpus_per_worker), "batch_size": options.batch_size}


def _run(plan: CorpusPlan, folder: CorpusFolder, todo: List[Shard], options: CorpusOptions, result: CorpusResult,
         started: float) -> None:
    expected = {s.index: s.documents for s in todo}
    by_index = {s.index: s for s in todo}
    rows: Dict[int, List[Tuple[int, str, bool]]] = {s.index: [] for s in todo}
    items = [dict(asdict(s), absolute=plan.inputs[s.file].absolute) for s in todo]
    bar = tqdm(total=sum(expected.values()), unit="doc", desc="ere-predict-corpus", disable=not options.progress,
               dynamic_ncols=True)
    try:
        with ray_session(options.address, options.num_cpus) as ray:
            from ray.data import ActorPoolStrategy, DataContext

            context = DataContext.get_current()
            context.enable_progress_bars = False  # the bar above counts documents
            context.print_on_execution_start = False
            # Reading is I/O: its tasks reserve no CPU, or actors holding every CPU would starve them.
            # The reader is sent by value, so its tasks never import this package (and torch).
            ray.cloudpickle.register_pickle_by_value(reading)
            dataset = ray.data.from_items(items, override_num_blocks=len(items)).flat_map(reading.read_shard, num_cpus=0)
            # batch_size None: each call gets a whole block, i.e. a shard; the actor batches inside it.
            dataset = dataset.map_batches(
                ShardPredictor, batch_size=None, batch_format="numpy",
                compute=ActorPoolStrategy(size=options.num_workers), num_cpus=options.cpus_per_worker,
                num_gpus=options.gpus_per_worker,
                fn_constructor_kwargs=actor_arguments(plan, todo, options),
            )
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                if not result.startup_seconds:
                    result.startup_seconds = time.time() - started
                for shard, line, text, bad, worker, rss in zip(batch["shard"].tolist(), batch["line"].tolist(),
                                                             batch["output"].tolist(), batch["error"].tolist(),
                                                             batch["worker"].tolist(), batch["rss_mb"].tolist()):
                    rows[shard].append((line, text, bad))
                    stats = result.workers.setdefault(str(worker), {"documents": 0, "peak_rss_mb": 0.0})
                    stats["documents"] += 1
                    stats["peak_rss_mb"] = max(stats["peak_rss_mb"], round(rss, 1))
                    if len(rows[shard]) == expected[shard]:
                        documents, errors = write_shard(folder, by_index[shard], rows.pop(shard))
                        result.documents += documents + errors
                        result.errors += errors
                bar.update(len(batch["shard"]))
    finally:
        bar.close()
    if rows:  # pragma: no cover - Ray Data returned fewer rows than the shards hold
        raise RuntimeError(f"shards {sorted(rows)} came back incomplete; rerun to predict them again")


def totals(folder: CorpusFolder, plan: CorpusPlan) -> Dict[str, int]:
    """Documents, errors and finished shards of the whole job, from its shard files."""
    done = [s for s in plan.shards if folder.done(s)]

    def count(path: Any) -> int:
        with open(path, "rb") as handle:
            return sum(1 for _ in handle)

    return {"shards": len(plan.shards), "shards_done": len(done),
            "predictions": sum(count(folder.shard_file(s)) for s in done),
            "errors": sum(count(folder.errors_file(s)) for s in done if folder.errors_file(s).exists())}


def merge_shards(folder: CorpusFolder, plan: CorpusPlan) -> None:
    """``predictions.jsonl`` and ``errors.jsonl``: every shard's lines in input order (atomically)."""
    missing = [s.index for s in plan.shards if not folder.done(s)]
    if missing:
        raise RuntimeError(f"cannot merge: {len(missing)} shard(s) unfinished; rerun to finish them")
    for name, of in (("predictions.jsonl", folder.shard_file), ("errors.jsonl", folder.errors_file)):
        with atomic_path(folder.root / name) as temporary, open(temporary, "wb") as out:
            for shard in plan.shards:
                if of(shard).exists():
                    with open(of(shard), "rb") as handle:
                        out.write(handle.read())
