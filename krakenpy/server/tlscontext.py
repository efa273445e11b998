"""OpenSSL contexts for the HTTPS listener: one per key pair, picked by SNI, behind one listening context
whose settings (and certificates) a reload replaces in place.

Certificate choice follows Go's ``getCertificate``: the first pair whose certificate names the server
name (exactly, or through a ``*.`` wildcard for one label), else the first pair. Every problem with
the files is reported at the JSON path that names them, before anything listens.
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.files import read_bounded
from krakenpy.server.tls import KeyPair, TlsOptions

__all__ = ["CertSet", "TlsListener", "build_certs", "check_tls"]

#: HTTP/1.1 only: a client that offers h2 falls back to it
_ALPN = ["http/1.1"]


def _no_password() -> bytes:
    raise ValueError("encrypted private keys are not supported")


def configure(context: ssl.SSLContext, options: TlsOptions) -> None:
    """Apply everything but the files: versions, TLS 1.2 ciphers, curve, client certificates."""
    context.minimum_version = options.min_version
    context.maximum_version = options.max_version
    context.set_ciphers(options.ciphers)
    if options.curve is not None:
        context.set_ecdh_curve(options.curve)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    context.set_alpn_protocols(_ALPN)
    # Go's RequireAndVerifyClientCert; any CA in the pool is a trust anchor, as in Go's x509 pools
    context.verify_mode = ssl.CERT_REQUIRED if options.enable_mtls else ssl.CERT_NONE
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN


def _read(path: str, where: str, issues: list[ConfigIssue]) -> bytes | None:
    try:
        return read_bounded(path)  # regular files only, bounded: never /dev/zero or a FIFO
    except OSError as exc:
        issues.append(ConfigIssue(where, f"cannot read {path}: {exc.strerror or exc}"))
        return None


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return []
    assert isinstance(san, x509.SubjectAlternativeName)
    names = [n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)]
    return names + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def _inspect(pair: KeyPair, issues: list[ConfigIssue], warnings: list[ConfigIssue]) -> list[str] | None:
    """Check one pair the way OpenSSL will use it; returns the certificate's names."""
    public_at = f"{pair.path}.public_key"
    private_at = f"{pair.path}.private_key"
    cert_pem, key_pem = _read(pair.public_key, public_at, issues), _read(pair.private_key, private_at, issues)
    if cert_pem is None or key_pem is None:
        return None
    try:
        cert = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        issues.append(ConfigIssue(public_at, f"{pair.public_key}: not a PEM certificate"))
        return None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        issues.append(ConfigIssue(private_at, f"{pair.private_key}: encrypted private keys are not supported"))
        return None
    except (ValueError, UnsupportedAlgorithm):
        issues.append(ConfigIssue(private_at, f"{pair.private_key}: not a PEM private key"))
        return None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        issues.append(ConfigIssue(private_at, f"{pair.private_key} does not match the certificate {pair.public_key}"))
        return None
    now = datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc < now:
        expired = f"certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}"
        warnings.append(ConfigIssue(public_at, expired, "warning"))
    elif cert.not_valid_before_utc > now:
        early = f"certificate not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M}"
        warnings.append(ConfigIssue(public_at, early, "warning"))
    return _names(cert)


@dataclass
class CertSet:
    """The per-certificate contexts of one configuration, and which one serves a server name."""

    default: ssl.SSLContext
    exact: dict[str, ssl.SSLContext] = field(default_factory=dict)
    wildcard: dict[str, ssl.SSLContext] = field(default_factory=dict)
    warnings: list[ConfigIssue] = field(default_factory=list)

    def select(self, server_name: str | None) -> ssl.SSLContext:
        """Go's choice: the first certificate naming ``server_name``, else the first certificate."""
        if not server_name:
            return self.default
        name = server_name.lower().rstrip(".")
        found = self.exact.get(name)
        if found is None:
            _, _, parent = name.partition(".")
            found = self.wildcard.get(parent) if parent else None
        return found or self.default


def _pair_context(pair: KeyPair, options: TlsOptions, issues: list[ConfigIssue]) -> ssl.SSLContext | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        configure(context, options)
        context.load_cert_chain(pair.public_key, pair.private_key, password=_no_password)
        if options.enable_mtls:
            if options.system_ca_pool:
                context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
            for i, path in enumerate(options.ca_certs):
                try:
                    context.load_verify_locations(cafile=path)
                except (OSError, ssl.SSLError) as exc:
                    issues.append(ConfigIssue(f"tls.ca_certs[{i}]", f"{path}: no usable CA certificate ({exc})"))
            for other in options.keys:  # lura adds the server's own certificates to the client CA pool
                context.load_verify_locations(cafile=other.public_key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        issues.append(ConfigIssue(pair.path, f"cannot use this key pair: {exc}"))
        return None
    return context


def build_certs(options: TlsOptions) -> CertSet:
    """Read and check every key pair and CA file; raises :class:`ConfigError` with each problem."""
    issues: list[ConfigIssue] = []
    warnings: list[ConfigIssue] = []
    for i, path in enumerate(options.ca_certs if options.enable_mtls else ()):
        _read(path, f"tls.ca_certs[{i}]", issues)
    built: list[tuple[ssl.SSLContext, list[str]]] = []
    for pair in options.keys:
        names = _inspect(pair, issues, warnings)
        if names is None:
            continue
        context = _pair_context(pair, options, issues)
        if context is not None:
            built.append((context, names))
    if issues or not built:
        raise ConfigError(issues or [ConfigIssue("tls", "no usable key pair")])
    certs = CertSet(default=built[0][0], warnings=warnings)
    for context, names in built:
        for name in names:
            table, key = (certs.wildcard, name[2:]) if name.startswith("*.") else (certs.exact, name)
            table.setdefault(key, context)  # the first pair naming it wins, as in Go
    return certs


def check_tls(options: TlsOptions) -> tuple[list[ConfigIssue], list[ConfigIssue]]:
    """``(errors, warnings)`` of the files ``options`` name: what ``check`` reports."""
    try:
        certs = build_certs(options)
    except ConfigError as exc:
        return list(exc.issues), []
    return [], certs.warnings


class TlsListener:
    """The listening socket's context. It holds no certificate itself: its SNI callback hands each
    handshake to the current :class:`CertSet`, so a reload swaps certificates (and settings) for new
    connections while established ones keep theirs."""

    def __init__(self, options: TlsOptions) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.certs = build_certs(options)
        configure(self.context, options)
        self.context.sni_callback = self._select

    def apply(self, options: TlsOptions) -> None:
        """Use new files and settings for the next handshakes; raises :class:`ConfigError` and keeps
        the current ones when the new files are unusable."""
        certs = build_certs(options)
        configure(self.context, options)
        self.certs = certs

    def _select(self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        connection.context = self.certs.select(server_name)
