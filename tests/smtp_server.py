"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 with STARTTLS (or implicit TLS)
and AUTH, using a self-signed certificate made here with `cryptography`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

USER, PASSWORD = "plan@example.com", "distinctive-smtp-password-4417"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost (cert, key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def free_port() -> int:
    """aiosmtpd cannot bind port 0 itself (DESIGN §9): pick a free one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Recorder:
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    sessions: set[int] = field(default_factory=set)  # connections that tried to log in

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001 (aiosmtpd's hook signature)
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):  # noqa: ANN001
        user = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
        password = auth_data.password.decode() if isinstance(auth_data.password, bytes) else auth_data.password
        ok = user == USER and password == PASSWORD
        self.logins.append((user, ok))
        self.sessions.add(id(session))
        return AuthResult(success=ok, handled=False)


class SmtpServer:
    """STARTTLS + AUTH (``implicit=False``) or implicit TLS + AUTH (``implicit=True``)."""

    def __init__(self, folder: Path, implicit: bool = False, port: int | None = None) -> None:
        self.cert, key = make_certificate(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.port = port or free_port()
        self.recorder = Recorder()
        kwargs = dict(
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self.recorder.authenticate,
            auth_required=True,
            data_size_limit=64 * 2**20,
        )
        if implicit:
            # the whole connection is TLS; aiosmtpd only tracks TLS it started itself (STARTTLS),
            # so "AUTH only over TLS" must not be asked of it here
            self.controller = Controller(self.recorder, ssl_context=context, auth_require_tls=False, **kwargs)
        else:
            self.controller = Controller(
                self.recorder, tls_context=context, require_starttls=True, auth_require_tls=True, **kwargs
            )

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Received]:
        return self.recorder.messages
