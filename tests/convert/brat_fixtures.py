"""Constructed brat documents for the converter's tests, with what a conversion must make of
them counted by hand (character offsets written out in the comments)."""
from pathlib import Path

# 0         1         2         3         4
# 0123456789012345678901234567890123456789012345678
# Alice works at AcmeCorp in Paris. Bob met Alice.\n
DOC1_TEXT = "Alice works at AcmeCorp in Paris. Bob met Alice.\n"
DOC1_ANN = "\n".join([
    "T1\tPerson 0 5\tAlice",
    "T2\tOrg 15 19\tAcme",                  # ends inside AcmeCorp: the token is split at 19
    "T3\tOrg 15 23\tAcmeCorp",
    "T4\tLocation 27 32\tParis",
    "T5\tPerson 34 37\tBob",
    "T6\tPerson 42 47\tAlice",
    "T7\tAgent 0 5\tAlice",                 # same span as T1
    "T8\tOrg 15 19;19 23\tAcme Corp",       # discontinuous
    "T9\tLocation 27 32\tPari",             # text mismatch
    "T10\tLocation 45 60\tx",               # outside the text (49 characters)
    "T11\tMisc 33 34\t ",                   # whitespace only
    "T12\tThing 23 26\t in",                # trimmed to 24-26 "in"
    "T13\tOrg abc def\tfoo",                # malformed offsets
    "R1\tWorkFor Arg1:T1 Arg2:T3",
    "R2\tLiveIn Arg1:T7 Arg2:T4",           # T7 -> T1
    "R3\tLocated Arg1:T1 Arg2:T4",          # same pair as R2
    "R4\tMeets Arg1:T5 Arg2:T1",            # across sentences
    "R5\tX Arg1:T9 Arg2:T1",                # T9 not carried over
    "R6\tX Arg1:T1 Arg2:T99",               # no such entity
    "R7\tKnows Arg1:T5 Arg2:T6",
    "R1\tDup Arg1:T5 Arg2:T6",              # duplicate id
    "R8\tRel Arg1:T1",                      # malformed
    "E1\tEvent:T1",
    "A1\tNegated T1",
    "#1\tAnnotatorNotes T1\ta note",
    "N1\tReference T1 Wikipedia:1\tAlice",
    "*\tEquiv T1 T7",
]) + "\n"
# The tokens: sentence 0 Alice0 works1 at2 Acme3 Corp4 in5 Paris6 .7, sentence 1 Bob8 met9 Alice10 .11
DOC1_DYGIE = {
    "doc_key": "doc1",
    "sentences": [["Alice", "works", "at", "Acme", "Corp", "in", "Paris", "."], ["Bob", "met", "Alice", "."]],
    "ner": [[[0, 0, "Person"], [3, 3, "Org"], [3, 4, "Org"], [5, 5, "Thing"], [6, 6, "Location"]],
            [[8, 8, "Person"], [10, 10, "Person"]]],
    "relations": [[[0, 0, 3, 4, "WorkFor"], [0, 0, 6, 6, "LiveIn"]], [[8, 8, 10, 10, "Knows"]]],
}
# (line, reason) of every item of doc1.ann not carried over
DOC1_SKIPPED = [
    (7, "same span as another entity"), (8, "discontinuous span"), (9, "text does not match the .txt"),
    (10, "offsets outside the text"), (11, "span covers no token"), (13, "malformed line"),
    (16, "same argument pair as another relation (the model holds one label per pair)"),
    (17, "relation across sentences"), (18, "relation argument missing or not carried over"),
    (19, "relation argument missing or not carried over"), (21, "duplicate id"), (22, "malformed line"),
    (23, "event"), (24, "attribute"), (25, "note"), (26, "normalization"), (27, "equivalence"),
]

# 0         1         2
# 0123456789012345678901
# It ends. Then starts.\n
DOC2_TEXT = "It ends. Then starts.\n"
DOC2_ANN = "T1\tSpan 3 13\tends. Then\n"  # crosses the sentence boundary: the two sentences merge
DOC2_DYGIE = {"doc_key": "doc2", "sentences": [["It", "ends", ".", "Then", "starts", "."]],
              "ner": [[[1, 3, "Span"]]], "relations": [[]]}

# A clean, token-aligned document for round trips (two lines, a nested entity, CRLF line ends).
# 0         1         2          3         4
# 0123456789012345678901234 5 678901234567890123
# We parse trees with CRF.\r\nParsing helps MT.\r\n
CLEAN_TEXT = "We parse trees with CRF.\r\nParsing helps MT.\r\n"
CLEAN_ANN = "\n".join([
    "T1\tTask 3 14\tparse trees",
    "T2\tOtherScientificTerm 9 14\ttrees",
    "T3\tMethod 20 23\tCRF",
    "T4\tTask 26 33\tParsing",
    "T5\tTask 40 42\tMT",
    "R1\tUSED-FOR Arg1:T3 Arg2:T1",
    "R2\tPART-OF Arg1:T2 Arg2:T1",
    "R3\tUSED-FOR Arg1:T4 Arg2:T5",
]) + "\n"


def write_brat(folder: Path, documents: dict) -> Path:
    """Writes {name: (text, ann or None)} as <name>.txt (+ <name>.ann) pairs into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (text, ann) in documents.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.txt").write_bytes(text.encode("utf-8"))
        if ann is not None:
            (folder / f"{name}.ann").write_bytes(ann.encode("utf-8"))
    return folder
