"""Request errors: an HTTP status and a message a client can act on, never a traceback.

Each protocol renders them in its own error shape (MLflow's ``error_code`` and
``message``, the Open Inference Protocol's ``error``); ``code`` is the MLflow
error code, chosen from MLflow's own list so MLflow clients recognise it.
"""

from __future__ import annotations

MAX_MESSAGE = 600
"""Messages quote client data (a bad value, a column name): keep a reply bounded."""


class RequestError(Exception):
    """A request the server refuses, with the status and message to answer it with."""

    def __init__(self, status: int, message: str, code: str = "BAD_REQUEST") -> None:
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def bad_request(message: str) -> RequestError:
    return RequestError(400, message, "BAD_REQUEST")


def malformed(message: str) -> RequestError:
    return RequestError(400, message, "MALFORMED_REQUEST")


def not_found(message: str) -> RequestError:
    return RequestError(404, message, "RESOURCE_DOES_NOT_EXIST")


def too_large(limit: int) -> RequestError:
    return RequestError(
        413,
        f"request body is larger than the server's limit of {limit:,} bytes; "
        "send fewer rows per request (or start the server with a larger --max-body-bytes)",
        "REQUEST_LIMIT_EXCEEDED",
    )


def busy(budget: int) -> RequestError:
    """503: the bodies this server is receiving already take its whole budget."""
    return RequestError(
        503,
        f"the server is receiving as many request bodies as it holds at once "
        f"({budget:,} bytes in all); retry shortly",
        "TEMPORARILY_UNAVAILABLE",
    )


def unsupported_media(message: str) -> RequestError:
    return RequestError(415, message, "BAD_REQUEST")


def unauthorized() -> RequestError:
    return RequestError(
        401,
        "missing or wrong bearer token: send 'Authorization: Bearer <token>'",
        "UNAUTHENTICATED",
    )


def method_not_allowed(method: str, path: str, allowed: str) -> RequestError:
    return RequestError(405, f"{method} is not allowed on {path}; use {allowed}", "BAD_REQUEST")


def internal_error() -> RequestError:
    return RequestError(
        500,
        "the server failed to answer this request; the server log has the details",
        "INTERNAL_ERROR",
    )
