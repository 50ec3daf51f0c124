"""The HTTP service of ``allennlp ere-serve``: a trained module or approach archive answering
``POST /v1/extract`` on FastAPI + uvicorn, with request batching (`batcher`), limits and faults as
JSON errors (`requests`, `errors`), Prometheus metrics (`metrics`), a page to paste text into
(`page`) and a Ray Serve deployment of the same app (`ray_app`).

FastAPI, uvicorn and prometheus-client are an optional extra (``pip install 'ere_allennlp[serve]'``,
pinned in ``requirements/serve.txt``): the modules here import them inside functions
(`dependencies.require`), so importing ``ere_allennlp`` (and its commands) never needs them.
"""
