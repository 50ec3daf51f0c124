"""What ``POST /v1/extract`` reads and answers: the request body checked field by field against the
limits, and the predictor's result for a document turned into the answer.

A request is one JSON object, either ``{"text": "...", "doc_key": optional}`` or ``{"documents":
[...]}`` where each document is raw text (``{"text": ..., "doc_key": optional}``) or a DyGIE
document (``doc_key``, ``sentences``; gold ``ner`` / ``relations`` and other keys are ignored, as
``allennlp predict`` ignores them). Raw text is split into sentences and tokens as ``allennlp
predict`` splits it (`split_text_with_offsets`), so both read the same tokens.

Each answered document holds ``allennlp predict``'s fields unchanged (``doc_key``, ``sentences``,
``predicted_ner``, ``predicted_relations``: document token offsets, ends inclusive) and, for people
and programs that work on characters, ``text`` and lists of ``entities`` and ``relations`` with
token offsets (``start``, ``end``: ends inclusive, as the predictor's), character offsets
(``char_start``, ``char_end``: ends exclusive, ``text[char_start:char_end]`` is the mention) and
the mention's ``text``. The characters of raw text are the text's own; those of a DyGIE document
are of its tokens joined by single spaces (sentences too), which the answer's ``text`` holds.
"""
import dataclasses
import json
from typing import Any, Dict, List, Sequence, Tuple

from ere_allennlp.predictors.ere import split_text_with_offsets
from ere_allennlp.serve.errors import ServeError, invalid, too_large
from ere_allennlp.serve.settings import ServeSettings

TOP_LEVEL_FIELDS = ("text", "doc_key", "documents")


@dataclasses.dataclass
class RequestDocument:
    """One document of a request, ready for the predictor: `record` is what ``allennlp predict``
    reads (``doc_key``, ``sentences``), `text` and `char_offsets` (per sentence, per token
    ``(start, end)``) place its tokens in characters; `field` names it in the request."""

    field: str
    doc_key: str
    sentences: List[List[str]]
    text: str
    char_offsets: List[List[Tuple[int, int]]]

    @property
    def record(self) -> Dict[str, Any]:
        return {"doc_key": self.doc_key, "sentences": self.sentences}

    @property
    def characters(self) -> int:
        return len(self.text)


def _from_text(text: str, doc_key: str, field: str) -> RequestDocument:
    sentences = split_text_with_offsets(text)
    return RequestDocument(field, doc_key, [[t for t, _, _ in s] for s in sentences], text,
                           [[(b, e) for _, b, e in s] for s in sentences])


def _from_tokens(sentences: List[List[str]], doc_key: str, field: str) -> RequestDocument:
    offsets: List[List[Tuple[int, int]]] = []
    position = 0
    for sentence in sentences:
        row = []
        for token in sentence:
            row.append((position, position + len(token)))
            position += len(token) + 1
        offsets.append(row)
    text = " ".join(token for sentence in sentences for token in sentence)
    return RequestDocument(field, doc_key, [list(s) for s in sentences], text, offsets)


def _doc_key(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise invalid(field, f"must be a string, got {type(value).__name__}")
    return str(value)


def _document(item: Any, n: int) -> RequestDocument:
    field = f"documents[{n}]"
    if not isinstance(item, dict):
        raise invalid(field, f"must be an object (raw text {{\"text\": ...}} or a DyGIE document), got {type(item).__name__}")
    doc_key = _doc_key(item["doc_key"], f"{field}.doc_key") if "doc_key" in item else field
    if "sentences" not in item:
        if "text" not in item:
            raise invalid(field, "needs 'text' (raw text) or 'sentences' (a DyGIE document)")
        if not isinstance(item["text"], str):
            raise invalid(f"{field}.text", f"must be a string, got {type(item['text']).__name__}")
        return _from_text(item["text"], doc_key, field)
    sentences = item["sentences"]
    if not isinstance(sentences, list):
        raise invalid(f"{field}.sentences", f"must be a list of sentences, got {type(sentences).__name__}")
    for k, sentence in enumerate(sentences):
        if not isinstance(sentence, list):
            raise invalid(f"{field}.sentences[{k}]", f"must be a list of token strings, got {type(sentence).__name__}")
        for j, token in enumerate(sentence):
            if not isinstance(token, str):
                raise invalid(f"{field}.sentences[{k}][{j}]", f"a token must be a string, got {type(token).__name__}")
            if not token.strip():
                raise invalid(f"{field}.sentences[{k}][{j}]", "a token must hold a character other than white space")
    return _from_tokens(sentences, doc_key, field)


def parse_request(body: bytes, settings: ServeSettings) -> List[RequestDocument]:
    """The documents of a request body, or the `ServeError` that answers it: 413 over
    ``max_request_bytes`` / ``max_documents`` / ``max_chars``, 422 naming the first field at fault."""
    if len(body) > settings.max_request_bytes:
        raise too_large("request_too_large", f"the body has {len(body)} bytes, more than --max-request-bytes "
                        f"({settings.max_request_bytes})", field="<body>")
    try:
        request = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise invalid("<body>", f"not UTF-8: {error}") from None
    except json.JSONDecodeError as error:
        raise invalid("<body>", f"not valid JSON: {error}") from None
    if not isinstance(request, dict):
        raise invalid("<body>", f"must be a JSON object with 'text' or 'documents', got {type(request).__name__}")
    for key in request:
        if key not in TOP_LEVEL_FIELDS:
            raise invalid(key, f"unknown field (a request has {', '.join(TOP_LEVEL_FIELDS)})")
    if ("text" in request) == ("documents" in request):
        raise invalid("<body>", "give either 'text' (one raw text) or 'documents' (a list), not both or neither")
    if "text" in request:
        if not isinstance(request["text"], str):
            raise invalid("text", f"must be a string, got {type(request['text']).__name__}")
        doc_key = _doc_key(request["doc_key"], "doc_key") if "doc_key" in request else "text"
        _check_characters(len(request["text"]), settings, "text")
        return [_from_text(request["text"], doc_key, "text")]
    if "doc_key" in request:
        raise invalid("doc_key", "only with 'text'; each document of 'documents' has its own")
    items = request["documents"]
    if not isinstance(items, list):
        raise invalid("documents", f"must be a list of documents, got {type(items).__name__}")
    if len(items) > settings.max_documents:
        raise too_large("too_many_documents", f"{len(items)} documents, more than --max-documents "
                        f"({settings.max_documents})", field="documents")
    documents = []
    characters = 0
    for n, item in enumerate(items):
        if isinstance(item, dict) and isinstance(item.get("text"), str) and "sentences" not in item:
            _check_characters(characters + len(item["text"]), settings, "documents")  # before splitting it
        document = _document(item, n)
        characters += document.characters
        _check_characters(characters, settings, "documents")
        documents.append(document)
    return documents


def _check_characters(characters: int, settings: ServeSettings, field: str) -> None:
    if characters > settings.max_chars:
        raise too_large("too_many_characters", f"more than --max-chars ({settings.max_chars}) characters "
                        "(raw texts, and DyGIE tokens joined by spaces)", field=field)


def _mention(document: RequestDocument, starts: Sequence[Tuple[int, int]], start: int, end: int) -> Dict[str, Any]:
    """Token offsets `start`..`end` (document, inclusive) -> the mention with its characters;
    `starts` maps a document token to ``(sentence, token in sentence)``."""
    k, first = starts[start]
    _, last = starts[end]
    char_start = document.char_offsets[k][first][0]
    char_end = document.char_offsets[k][last][1]
    return {"start": start, "end": end, "char_start": char_start, "char_end": char_end,
            "text": document.text[char_start:char_end]}


def answer(document: RequestDocument, result: Dict[str, Any]) -> Dict[str, Any]:
    """The answer for `document` from the predictor's `result` (``allennlp predict``'s JSON for it)."""
    starts = [(k, j) for k, sentence in enumerate(document.sentences) for j in range(len(sentence))]
    entities = []
    for k, sentence in enumerate(result["predicted_ner"]):
        for start, end, label, probability in sentence:
            entities.append({"sentence": k, **_mention(document, starts, start, end), "label": label,
                             "probability": probability})
    relations = []
    for k, sentence in enumerate(result["predicted_relations"]):
        for hs, he, ts, te, label, probability in sentence:
            relations.append({"sentence": k, "head": _mention(document, starts, hs, he),
                              "tail": _mention(document, starts, ts, te), "label": label, "probability": probability})
    return {**result, "text": document.text, "entities": entities, "relations": relations}


def error_answer(document: RequestDocument, error: ServeError) -> Dict[str, Any]:
    """The answer for a document that could not be predicted (the others of its request are answered)."""
    return {"doc_key": document.doc_key, **error.body()}
