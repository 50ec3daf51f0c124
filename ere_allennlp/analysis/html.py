"""One self-contained HTML page of the extractions: every document's sentences with the gold
entities and the entities of two approaches side by side as coloured spans, relations as labelled
lines under each sentence, each item marked with its kind (`ere_allennlp.analysis.breakdown`).
Filters by error kind, label and approach pair, and a search by document key or word. Everything is
inline (no network); the data sits in one JSON block that a small script renders once."""
import html
import json
from typing import Any, Dict, List, Mapping, Sequence

from ere_allennlp.analysis.breakdown import Breakdown
from ere_allennlp.atomic import atomic_path

# How entities and relations are drawn: shared with the page of `allennlp ere-serve`
# (ere_allennlp/serve/page.py), whose items all have the kind "predicted".
VIEW_STYLE = """
.view h3{font-size:11px;margin:0;color:#666;text-transform:uppercase}
.tok{padding:0 1px}
.ent{border-radius:3px;padding:0 2px;border:1px solid #888}
.ent sub{font-size:9px;color:#444}
.rel{font-size:12px;margin:1px 0}
.correct{background:#d8f5d0}
.wrong_type,.gold_wrong_type,.argument_type{background:#ffe2a8}
.boundary_right_type,.boundary_wrong_type,.argument_boundary{background:#ffd0e8}
.spurious,.argument_not_an_entity,.both_arguments_entities{background:#ffc9c9}
.missed,.argument_not_found{background:#e4e4e4;text-decoration:underline dotted}
.no_relation,.wrong_label,.reversed{background:#d9e6ff}
.predicted{background:#dcebff}
"""

_STYLE = VIEW_STYLE + """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222}
header{position:sticky;top:0;background:#f6f6f6;border-bottom:1px solid #ccc;padding:8px 12px;z-index:2}
header label{margin-right:12px}
main{padding:8px 12px}
.doc{border-top:2px solid #999;margin-top:10px}
.doc h2{font-size:14px;margin:6px 0}
.sentence{display:grid;grid-template-columns:repeat(3,1fr);gap:8px;border-top:1px dotted #ccc;padding:4px 0}
.hidden{display:none}
#summary{color:#555;margin-left:8px}
"""

# `esc` and `view(tokens, entities, relations, title, side)`: one sentence's tokens with its entities
# ([start, end, label, kind], sentence offsets, ends inclusive) as coloured spans and its relations
# ([hs, he, ts, te, label, kind]) as lines under it; shared with the page of `allennlp ere-serve`.
VIEW_SCRIPT = r"""
function esc(s){return String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));}
function view(tokens, ents, rels, title, side){
  const starts = {}, ends = {};
  ents.forEach((e, i) => { (starts[e[0]] = starts[e[0]] || []).push(i); (ends[e[1]] = ends[e[1]] || []).push(i); });
  let out = `<div class="view" data-side="${side}"><h3>${esc(title)}</h3><div>`;
  tokens.forEach((t, k) => {
    (starts[k] || []).forEach(i => { const e = ents[i];
      out += `<span class="ent ${e[3]}" data-kind="${e[3]}" data-label="${esc(e[2])}" title="${esc(e[2])}: ${e[3]}">`; });
    out += `<span class="tok">${esc(t)}</span>`;
    (ends[k] || []).slice().reverse().forEach(i => { out += `<sub>${esc(ents[i][2])}</sub></span>`; });
    out += ' ';
  });
  out += '</div>';
  rels.forEach(r => {
    const head = tokens.slice(r[0], r[1] + 1).join(' '), tail = tokens.slice(r[2], r[3] + 1).join(' ');
    out += `<div class="rel ${r[5]}" data-kind="${r[5]}" data-label="${esc(r[4])}" title="${r[5]}">${esc(head)} → <b>${esc(r[4])}</b> → ${esc(tail)} <i>(${r[5].replace(/_/g, ' ')})</i></div>`;
  });
  return out + '</div>';
}
"""

_SCRIPT = VIEW_SCRIPT + r"""
const data = JSON.parse(document.getElementById('ere-data').textContent);
const main = document.querySelector('main');
function render(){
  const a = document.getElementById('approach-a').value, b = document.getElementById('approach-b').value;
  let out = '';
  data.documents.forEach((doc, d) => {
    out += `<section class="doc" data-key="${esc(doc.doc_key)}"><h2>${esc(doc.doc_key)}</h2>`;
    doc.sentences.forEach((s, k) => {
      const words = s.tokens.join(' ').toLowerCase();
      out += `<div class="sentence" data-doc="${esc(doc.doc_key)}" data-words="${esc(words)}">`;
      out += view(s.tokens, s.gold.entities, s.gold.relations, 'gold (kinds: ' + data.names[0] + ')', 'gold');
      [a, b].forEach(name => { const p = s.approaches[name];
        out += view(s.tokens, p.entities, p.relations, name, name); });
      out += '</div>';
    });
    out += '</section>';
  });
  main.innerHTML = out;
  applyFilters();
}
function applyFilters(){
  const kind = document.getElementById('kind').value, label = document.getElementById('label').value;
  const query = document.getElementById('search').value.trim().toLowerCase();
  let shown = 0, total = 0;
  document.querySelectorAll('.sentence').forEach(s => {
    total++;
    const items = Array.from(s.querySelectorAll('[data-kind]'));
    const okKind = !kind || items.some(e => e.dataset.kind === kind);
    const okLabel = !label || items.some(e => e.dataset.label === label);
    const okQuery = !query || s.dataset.doc.toLowerCase().includes(query) || s.dataset.words.includes(query);
    const visible = okKind && okLabel && okQuery;
    s.classList.toggle('hidden', !visible);
    if (visible) shown++;
  });
  document.querySelectorAll('section.doc').forEach(d =>
    d.classList.toggle('hidden', !d.querySelector('.sentence:not(.hidden)')));
  document.getElementById('summary').textContent = `${shown} of ${total} sentences`;
}
['kind', 'label', 'search'].forEach(id => document.getElementById(id).addEventListener('input', applyFilters));
['approach-a', 'approach-b'].forEach(id => document.getElementById(id).addEventListener('change', render));
render();
"""


def report_data(breakdowns: Mapping[str, Breakdown]) -> Dict[str, Any]:
    """Per document and sentence: tokens, gold and each approach's entities ``[start, end,
    label, kind]`` and relations ``[hs, he, ts, te, label, kind]``, from the `Breakdown.records`
    of each approach (`breakdown_of`, same gold file). Predicted items carry their kind; the gold
    view's items carry their outcome or lost-relation cause for the first approach."""
    names = list(breakdowns)

    def marked(items: List[Any]) -> List[List[Any]]:
        return [list(item) + [kind] for item, kind in items]

    documents: Dict[str, Dict[str, Any]] = {}
    for name in names:
        sentence_index: Dict[str, int] = {}
        for doc_key, tokens, kinds in breakdowns[name].records:
            document = documents.setdefault(doc_key, {"doc_key": doc_key, "sentences": []})
            k = sentence_index[doc_key] = sentence_index.get(doc_key, -1) + 1
            if k == len(document["sentences"]):  # the first approach lays the sentences out
                document["sentences"].append({"tokens": tokens, "approaches": {},
                                              "gold": {"entities": marked(kinds["gold entities"]),
                                                       "relations": marked(kinds["gold relations"])}})
            document["sentences"][k]["approaches"][name] = {
                "entities": marked(kinds["predicted entities"]), "relations": marked(kinds["predicted relations"])}
    return {"names": names, "documents": list(documents.values())}


def write_report(breakdowns: Mapping[str, Breakdown], output: str) -> Dict[str, Any]:
    """Writes the page of `breakdowns` (name -> `breakdown_of` of that approach's predictions) to
    `output`; returns its data."""
    data = report_data(breakdowns)
    names = data["names"]
    items = [item for doc in data["documents"] for s in doc["sentences"]
             for part in [s["gold"], *s["approaches"].values()] for key in ("entities", "relations") for item in part[key]]
    kinds = sorted({item[-1] for item in items})
    labels = sorted({str(item[-2]) for item in items})

    def options(values: Sequence[str], selected: str = "") -> str:
        return "".join(f'<option value="{html.escape(v)}"{" selected" if v == selected else ""}>{html.escape(v)}</option>' for v in values)

    second = names[1] if len(names) > 1 else names[0]
    payload = json.dumps(data).replace("</", "<\\/")  # no "</script>" inside the JSON block
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ere_allennlp report: {html.escape(', '.join(names))}</title>
<style>{_STYLE}</style></head><body>
<header>
<label>left <select id="approach-a">{options(names, names[0])}</select></label>
<label>right <select id="approach-b">{options(names, second)}</select></label>
<label>error kind <select id="kind"><option value="">any</option>{options(kinds)}</select></label>
<label>label <select id="label"><option value="">any</option>{options(labels)}</select></label>
<label>search <input id="search" type="search" placeholder="doc key or word"></label>
<span id="summary"></span>
</header>
<main></main>
<script type="application/json" id="ere-data">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
    with atomic_path(output) as temporary:
        temporary.write_text(page, encoding="utf-8")
    return data
