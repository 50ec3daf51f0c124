#!/usr/bin/env bash
# Install ere_allennlp and its pinned stack into a virtual environment (default: .venv).
#   bash scripts/install.sh            runtime only
#   bash scripts/install.sh dev        runtime + Ray + the service + test/benchmark tools (pytest, selenium, ...)
#   bash scripts/install.sh ray        runtime + Ray (ere-study --ray, ere-predict-corpus, ere-serve --ray)
#   bash scripts/install.sh serve      runtime + the HTTP service (allennlp ere-serve)
# Idempotent: a second run with nothing changed takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ERE_VENV:-.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
stamp="$VENV/.ere_install_stamp"
want=$(cat requirements/*.txt setup.cfg pyproject.toml | sha256sum | cut -c1-16)-${1:-runtime}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[install] installing pinned stack into $VENV (first time: a few minutes)" >&2
"${PIP[@]}" install "setuptools<80" wheel
"${PIP[@]}" install -r requirements/runtime.txt
"${PIP[@]}" install --no-deps -r requirements/allennlp.txt
echo "[install] pip's 'allennlp 2.10.1 requires torch<1.13 ...' conflicts below are expected: see README" >&2
if [ "${1:-}" = "dev" ] || [ "${1:-}" = "ray" ]; then
  "${PIP[@]}" install -r requirements/ray.txt -c requirements/runtime.txt -c requirements/serve.txt
fi
if [ "${1:-}" = "dev" ] || [ "${1:-}" = "serve" ]; then
  "${PIP[@]}" install -r requirements/serve.txt -c requirements/runtime.txt
fi
if [ "${1:-}" = "dev" ]; then
  "${PIP[@]}" install -r requirements/dev.txt -c requirements/runtime.txt
fi
"${PIP[@]}" install --no-deps -e .
"$VENV/bin/python" -c "import allennlp, ere_allennlp"
echo "$want" > "$stamp"
echo "[install] done: $VENV" >&2
