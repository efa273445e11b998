"""Client TLS contexts from files a configuration or the environment names: a CA bundle, a client
certificate and its key. The audit trail's syslog sink, the OTLP exporters and the JOSE key sources
build theirs here, once, at start-up; each words a failure its own way (a config error at a JSON
path, a warning naming a variable), from :class:`TlsFileError`.

Each file is read first with :func:`krakenpy.files.read_bounded`: a FIFO without a writer, a device
or a file over the size limit is refused instead of handed to OpenSSL, which would wait on the FIFO
or read the device for ever. OpenSSL then loads the file by its path, by its own rules (text between
the PEM blocks, UTF-8 comments as in curl's ``cacert.pem``, CRLs and ``TRUSTED CERTIFICATE`` blocks
are all accepted, as ``tls.ca_certs`` accepts them). An encrypted private key is refused: OpenSSL's
default would ask for its passphrase on the terminal and block start-up there.
"""

from __future__ import annotations

import ssl

from krakenpy.files import read_bounded

__all__ = ["TlsFileError", "client_context", "load_client_pair", "unreadable"]


class TlsFileError(Exception):
    """A TLS file that cannot be used: ``reason`` says why; ``unreadable`` when it could not be read
    at all (missing, not a regular file, too large), else it holds no usable PEM."""

    def __init__(self, path: str, reason: str, *, unreadable: bool) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.unreadable = unreadable


def unreadable(path: str) -> str:
    """Why ``path`` cannot be read as a TLS file (missing, not a regular file, too large); "" when
    it can. For the checks that name every such file before any context is built."""
    try:
        read_bounded(path)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return ""


def _check(path: str) -> None:
    if reason := unreadable(path):
        raise TlsFileError(path, reason, unreadable=True)


def _no_password() -> bytes:
    raise ValueError("encrypted private keys are not supported")


def client_context(ca_file: str = "", *, system_roots: bool = False) -> ssl.SSLContext:
    """A client context that verifies the server and its host name: against ``ca_file``'s CA
    certificates (the system's too with ``system_roots``), the system's alone without ``ca_file``."""
    if not ca_file:
        return ssl.create_default_context()
    _check(ca_file)
    try:
        if not system_roots:
            return ssl.create_default_context(cafile=ca_file)
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=ca_file)
        return context
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise TlsFileError(ca_file, str(exc), unreadable=False) from None


def load_client_pair(context: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    """Give ``context`` the client certificate chain ``cert_file`` and its key ``key_file``, sent to a
    server that asks for one (no ``key_file``: the key is in ``cert_file``)."""
    for path in (cert_file, key_file) if key_file else (cert_file,):
        _check(path)
    try:
        context.load_cert_chain(cert_file, key_file or None, password=_no_password)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise TlsFileError(cert_file, str(exc), unreadable=False) from None
