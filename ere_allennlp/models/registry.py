"""A module of Table 1 is registered under the name it writes once, its class's ``MODULE``."""
from typing import Type, TypeVar

from allennlp.models.model import Model

from ere_allennlp.models.span_model import SpanModel

Module = TypeVar("Module", bound=SpanModel)


def register_module(cls: Type[Module]) -> Type[Module]:
    """Class decorator: ``Model.register(cls.MODULE)(cls)``."""
    if not cls.MODULE:
        raise ValueError(f"{cls.__name__} names no MODULE to be registered under")
    Model.register(cls.MODULE)(cls)
    return cls
