"""The service's errors: each becomes one JSON answer with its HTTP status,

    {"error": {"status": 422, "type": "invalid_field", "field": "documents[1].sentences[0][2]",
               "message": "..."}}

and, where it helps the client, headers (``Retry-After`` on 503)."""
from typing import Any, Dict, Optional


class ServeError(Exception):
    """An answer other than 200: `status`, a machine-readable `kind` (the JSON ``type``), a message
    for people, the request `field` at fault if any (``text``, ``documents[3].doc_key``, ``<body>``
    for the body as a whole) and extra response `headers`."""

    def __init__(self, status: int, kind: str, message: str, field: Optional[str] = None,
                 headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def body(self) -> Dict[str, Any]:
        """The JSON answer."""
        error: Dict[str, Any] = {"status": self.status, "type": self.kind, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


def invalid(field: str, problem: str) -> ServeError:
    """422: `field` of the request is missing, of the wrong type or not allowed."""
    return ServeError(422, "invalid_field", f"field '{field}': {problem}", field=field)


def too_large(kind: str, message: str, field: Optional[str] = None) -> ServeError:
    """413: the body, or the documents or characters of a request, exceed a limit."""
    return ServeError(413, kind, message, field=field)


def unavailable(kind: str, message: str, retry_after_s: int) -> ServeError:
    """503 with ``Retry-After``: the queue is full, or the model is not loaded yet."""
    return ServeError(503, kind, message, headers={"Retry-After": str(int(retry_after_s))})


def timed_out(timeout_s: float) -> ServeError:
    """504: the request was not answered within ``--timeout-s``."""
    return ServeError(504, "timeout", f"not answered within {timeout_s:g} s (--timeout-s); the server goes on serving")
