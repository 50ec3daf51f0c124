"""The ten modules of Table 1, one registered `SpanModel` subclass per file."""
from ere_allennlp.models.modules.ei import Ei  # noqa: F401
from ere_allennlp.models.modules.ec import Ec  # noqa: F401
from ere_allennlp.models.modules.ner import Ner  # noqa: F401
from ere_allennlp.models.modules.ri import Ri  # noqa: F401
from ere_allennlp.models.modules.rc import Rc  # noqa: F401
from ere_allennlp.models.modules.re import Re  # noqa: F401
from ere_allennlp.models.modules.ecri import EcRi  # noqa: F401
from ere_allennlp.models.modules.nerri import NerRi  # noqa: F401
from ere_allennlp.models.modules.ecre import EcRe  # noqa: F401
from ere_allennlp.models.modules.nerre import NerRe  # noqa: F401
