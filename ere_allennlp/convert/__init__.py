"""Conversions between DyGIE JSON lines and the formats users bring: brat standoff folders and
SpERT's JSON (``allennlp ere-convert``; the function is `ere_allennlp.convert.run.convert`)."""
