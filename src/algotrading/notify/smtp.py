"""Sending one message over SMTP: STARTTLS on 587 (or any port but 465), implicit TLS on
465 (``tls_mode`` in params/email.yaml can force either), explicit timeouts, bounded
retries with backoff on dropped connections and 4xx (temporary) answers, and no retry
when the login is refused or the server says 5xx.

A message goes to the wire as :class:`Flat` bytes: flattened once when it is composed,
the same bytes kept in the outbox and sent (a daily email carries the 5-6 MB report:
flattening or parsing it again cost about 0.2-0.3 s each time, four times a run)."""

from __future__ import annotations

import logging
import math
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from algotrading.config import EmailParams

log = logging.getLogger(__name__)
IMPLICIT_TLS_PORT = 465


@dataclass(frozen=True)
class Flat:
    """A message as it goes over SMTP (RFC 5322 bytes, CRLF line ends)."""

    raw: bytes

    @classmethod
    def of(cls, msg: EmailMessage | Flat) -> Flat:
        """``msg`` flattened with the SMTP policy (as ``send_message`` would)."""
        return msg if isinstance(msg, Flat) else cls(msg.as_bytes(policy=policy.SMTP))

    def header(self, name: str) -> str:
        """One header, decoded; only the header block is parsed, not the parts."""
        block = self.raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        value = BytesParser(policy=policy.default).parsebytes(block, headersonly=True)[name]
        return "" if value is None else str(value)


class EmailError(RuntimeError):
    """The message was not delivered; ``retryable`` says whether a later try may work."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _context(params: EmailParams) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=params.tls_ca_file) if params.tls_ca_file else ssl.create_default_context()


def implicit_tls(params: EmailParams) -> bool:
    """TLS from the first byte (SMTPS) rather than STARTTLS after the greeting."""
    return params.tls_mode == "ssl" or (params.tls_mode == "auto" and params.smtp_port == IMPLICIT_TLS_PORT)


@contextmanager
def _session(params: EmailParams, password: str | None) -> Iterator[smtplib.SMTP]:
    """A connected, encrypted and (with a username) logged-in SMTP session."""
    host, port, timeout = params.smtp_server, params.smtp_port, params.timeout_seconds
    assert host is not None
    context = _context(params)
    ssl_first = implicit_tls(params)
    if ssl_first:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        smtp.ehlo()
        if not ssl_first:
            smtp.starttls(context=context)
            smtp.ehlo()
        if params.username:
            smtp.login(params.username, password or "")
        yield smtp


def _send_once(flat: Flat, params: EmailParams, password: str | None) -> None:
    with _session(params, password) as smtp:
        smtp.sendmail(flat.header("From"), list(params.to), flat.raw)


def _login_once(params: EmailParams, password: str | None) -> None:
    with _session(params, password) as smtp:
        smtp.noop()


def check_login(params: EmailParams, password: str | None) -> None:
    """Connect, encrypt and log in, then quit without sending anything (for
    ``algotrading validate``). One try; raises :class:`EmailError` naming the fix."""
    once = params.model_copy(update={"retry_attempts": 1})
    _with_retries(lambda p: _login_once(p, password), once, "login")


def send(
    msg: EmailMessage | Flat,
    params: EmailParams,
    password: str | None,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
) -> int:
    """Deliver ``msg``; returns the number of tries. Raises :class:`EmailError`.

    ``deadline`` (a ``time.monotonic()`` value): no try starts after it, a try's socket
    timeout and the waits are cut to the time left, so a server that accepts and then
    hangs costs at most about that long."""
    flat = Flat.of(msg)
    return _with_retries(lambda p: _send_once(flat, p, password), params, "email", sleep, deadline)


def _with_retries(
    action: Callable[[EmailParams], None],
    params: EmailParams,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
) -> int:
    """Run ``action`` with the retry rules of the module docstring; returns the tries."""
    last = ""
    for attempt in range(1, params.retry_attempts + 1):
        left = math.inf if deadline is None else deadline - time.monotonic()
        if left <= 0:
            raise EmailError(
                f"email not delivered: the time for re-sends was spent after {attempt - 1} tr"
                f"{'y' if attempt == 2 else 'ies'} (last: {last or 'none'}); it stays in the outbox",
                retryable=True,
            )
        try:
            action(params if left >= params.timeout_seconds else params.model_copy(update={"timeout_seconds": left}))
            return attempt
        except smtplib.SMTPAuthenticationError as exc:
            raise EmailError(
                f"the SMTP server refused the login of {params.username} ({exc.smtp_code}): check EMAIL_USERNAME and "
                "EMAIL_PASSWORD (for Gmail an app password). Not retried.",
                retryable=False,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            said = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            last = f"{exc.smtp_code} {said}"
            if not 400 <= exc.smtp_code < 500:
                raise EmailError(f"the SMTP server refused the {what} ({last}). Not retried.", retryable=False) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise EmailError(
                f"the SMTP server does not support {exc}: check EMAIL_SMTP_PORT (587 STARTTLS, 465 TLS)",
                retryable=False,
            ) from exc
        except ssl.SSLError as exc:
            raise EmailError(
                f"TLS with {params.smtp_server}:{params.smtp_port} failed ({exc.reason or exc}): check the "
                "port (587 STARTTLS, 465 TLS) and the server's certificate",
                retryable=False,
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if attempt < params.retry_attempts:
            wait = min(params.retry_wait_seconds * 2 ** (attempt - 1), params.retry_max_wait_seconds)
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            log.warning(
                "%s to %s:%s failed (%s); try %d of %d in %.1f s",
                what,
                params.smtp_server,
                params.smtp_port,
                last,
                attempt + 1,
                params.retry_attempts,
                wait,
            )
            sleep(wait)
    if what != "email":
        raise EmailError(
            f"cannot reach the SMTP server {params.smtp_server}:{params.smtp_port} ({last}): check "
            "EMAIL_SMTP_SERVER and EMAIL_SMTP_PORT and the network",
            retryable=True,
        )
    raise EmailError(
        f"email not delivered after {params.retry_attempts} tries to {params.smtp_server}:"
        f"{params.smtp_port} (last: {last}); it stays in the outbox and the next run sends it first",
        retryable=True,
    )
