"""HTTP policy shared by the Alpaca clients: explicit timeouts and which read failures
are worth another try.

alpaca-py sends requests with no timeout and retries 429/504 by itself, three times,
3 s apart, on every method (DESIGN §8). We mount an adapter that gives every request a
timeout, switch alpaca-py's own loop off, and retry *reads* with tenacity instead.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class TimeoutAdapter(HTTPAdapter):
    """An adapter that applies a default timeout to requests that set none."""

    def __init__(self, timeout: float, **kwargs: Any) -> None:
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


def harden_client(client: Any, timeout: float) -> None:
    """Give an alpaca-py REST client request timeouts and turn off its built-in retry loop."""
    adapter = TimeoutAdapter(timeout)
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    client._retry = 0  # alpaca-py only retries while this is > 0


def status_of(exc: BaseException) -> int | None:
    """The HTTP status behind an alpaca-py ``APIError`` (``None`` for other errors)."""
    if isinstance(exc, APIError):
        try:
            return exc.status_code
        except Exception:  # malformed error body: no status to read
            return None
    return None


def is_retryable_read_error(exc: BaseException) -> bool:
    """Timeouts, dropped connections, 429 and 5xx: transient, safe to retry for a read."""
    if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
        return True
    status = status_of(exc)
    return status is not None and status in RETRYABLE_STATUS


def describe_error(exc: BaseException) -> str:
    """A one-line description of a request failure for error messages."""
    status = status_of(exc)
    if status is not None:
        body = str(exc).strip().replace("\n", " ")
        return f"HTTP {status}: {body[:200]}"
    if isinstance(exc, requests.Timeout):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, requests.ConnectionError):
        return f"could not connect ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def read_retrying(attempts: int, wait: float, max_wait: float, what: str) -> Retrying:
    """Retries for a read: exponential backoff on transient failures, then give up
    (``RetryError``). Never use it for an order submission."""

    def log_retry(state: RetryCallState) -> None:
        # tenacity sleeps only after a try that raised (retry_if_exception), so both are set
        assert state.outcome is not None
        exc = state.outcome.exception()
        assert exc is not None
        log.warning("%s failed (%s); try %d of %d", what, describe_error(exc), state.attempt_number, attempts)

    return Retrying(
        retry=retry_if_exception(is_retryable_read_error),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=wait, max=max_wait),
        before_sleep=log_retry,
        reraise=False,
    )
