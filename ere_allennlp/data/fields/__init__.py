from ere_allennlp.data.fields.span_list_field import SpanListField  # noqa: F401
