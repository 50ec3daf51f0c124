"""``GET /``: one self-contained page (nothing fetched but ``POST /v1/extract`` on the same server)
to paste a text into and see its entities and relations, drawn by the renderer of the
``ere-analyze`` report (`ere_allennlp.analysis.html.VIEW_STYLE` and ``VIEW_SCRIPT``): per sentence
the tokens with the entities as labelled spans, and the relations as ``head → label → tail`` lines
under it. A table under the drawing lists each entity and relation with its probability. Errors
(limits, a model failure) are shown as the JSON error's message."""
import html

from ere_allennlp.analysis.html import VIEW_SCRIPT, VIEW_STYLE

_STYLE = VIEW_STYLE + """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70em;padding:8px 16px;color:#222}
textarea{width:100%;box-sizing:border-box;font:inherit}
#status{color:#555;margin-left:8px}
#error{color:#a00}
.sentence{border-top:1px dotted #ccc;padding:4px 0}
table{border-collapse:collapse;margin-top:12px;font-size:12px}
td,th{border:1px solid #ddd;padding:1px 6px;text-align:left}
"""

_SCRIPT = VIEW_SCRIPT + r"""
const form = document.getElementById('form');
function show(doc){
  let out = '';
  doc.sentences.forEach((tokens, k) => {
    const base = doc.sentences.slice(0, k).reduce((n, s) => n + s.length, 0);
    const ents = doc.predicted_ner[k].map(e => [e[0] - base, e[1] - base, e[2] === null ? 'entity' : e[2], 'predicted']);
    const rels = doc.predicted_relations[k].map(r => [r[0] - base, r[1] - base, r[2] - base, r[3] - base,
                                                      r[4] === null ? 'related' : r[4], 'predicted']);
    out += `<div class="sentence" data-sentence="${k}">` + view(tokens, ents, rels, 'sentence ' + (k + 1), 'model') + '</div>';
  });
  let rows = doc.entities.map(e => `<tr class="entity-row"><td>entity</td><td>${esc(e.text)}</td><td>${esc(e.label)}</td>` +
                                   `<td>${e.probability.toFixed(3)}</td></tr>`).join('');
  rows += doc.relations.map(r => `<tr class="relation-row"><td>relation</td><td>${esc(r.head.text)} → ${esc(r.tail.text)}</td>` +
                                 `<td>${esc(r.label)}</td><td>${r.probability.toFixed(3)}</td></tr>`).join('');
  out += `<table><tr><th>item</th><th>text</th><th>label</th><th>probability</th></tr>${rows}</table>`;
  document.getElementById('result').innerHTML = out;
}
form.addEventListener('submit', async event => {
  event.preventDefault();
  const status = document.getElementById('status'), error = document.getElementById('error');
  status.textContent = 'extracting…'; error.textContent = '';
  document.getElementById('result').innerHTML = '';
  try {
    const response = await fetch('v1/extract', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                  body: JSON.stringify({text: document.getElementById('text').value})});
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error ? answer.error.message : response.statusText);
    const doc = answer.documents[0];
    if (doc.error) throw new Error(doc.error.message);
    show(doc);
    status.textContent = `${doc.entities.length} entities, ${doc.relations.length} relations`;
  } catch (e) {
    status.textContent = ''; error.textContent = String(e.message || e);
  }
  document.body.dataset.done = String(Number(document.body.dataset.done || 0) + 1);
});
"""


def page(title: str) -> str:
    """The page, titled with the archive's name."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ere_allennlp: {html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1 style="font-size:18px">Entities and relations: {html.escape(title)}</h1>
<form id="form"><textarea id="text" rows="6" placeholder="Paste a paragraph here"></textarea><br>
<button id="submit" type="submit">Extract</button><span id="status"></span></form>
<div id="error"></div>
<div id="result"></div>
<script>{_SCRIPT}</script>
</body></html>
"""
