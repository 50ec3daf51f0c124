"""Error analysis of predictions against gold (``allennlp ere-analyze``)."""
