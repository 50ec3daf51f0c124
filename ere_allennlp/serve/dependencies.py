"""The service's optional dependencies, imported on first use with a clear message when missing."""
import importlib
from types import ModuleType

INSTALL_HINT = "pip install 'ere_allennlp[serve]' (or pip install -r requirements/serve.txt)"


class ServeMissing(ImportError):
    """A dependency of the service (FastAPI, uvicorn, prometheus-client) is not installed."""


def require(module: str) -> ModuleType:
    """Imports `module` (``fastapi``, ``uvicorn``, ``prometheus_client``, ``starlette.requests``,
    ...) or raises `ServeMissing` naming it and how to install the service's extra."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ServeMissing(f"the service needs {module.split('.')[0]}, which is not installed ({error}): "
                           f"{INSTALL_HINT}") from None
