"""The service ``tls`` block (lura ``config.TLS``), read into :class:`TlsOptions`: KrakenD's rules and
Go's identifiers translated to what Python's ``ssl`` (OpenSSL) can do. Pure: no file is opened here
(:mod:`krakenpy.server.tlscontext` builds the contexts).

Go's rules copied: ``keys[]`` plus the legacy ``public_key``/``private_key`` pair appended; TLS on as
soon as the block is present unless ``disabled``; no key at all is ``public key not defined``;
an unset ``min_version``/``max_version`` means TLS 1.3; an unset ``cipher_suites`` means lura's six
ECDHE AEAD suites; TLS 1.3 suites are always on (Go does not let them be chosen either).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from krakenpy.errors import ConfigIssue

__all__ = ["CIPHER_SUITES", "CURVES", "KeyPair", "TlsOptions", "parse_tls"]

#: Go ``crypto/tls`` cipher suite ids (TLS 1.0-1.2) → OpenSSL names; ``None``: OpenSSL 3 has no such suite
CIPHER_SUITES: dict[int, tuple[str, str | None]] = {
    0x0005: ("TLS_RSA_WITH_RC4_128_SHA", None),
    0x000A: ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", None),
    0x002F: ("TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
    0x0035: ("TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"),
    0x003C: ("TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"),
    0x009C: ("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"),
    0x009D: ("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
    0xC007: ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", None),
    0xC009: ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"),
    0xC00A: ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"),
    0xC011: ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", None),
    0xC012: ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", None),
    0xC013: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
    0xC014: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
    0xC023: ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"),
    0xC027: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"),
    0xC02F: ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    0xC02B: ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    0xC030: ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
    0xC02C: ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
    0xCCA8: ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
    0xCCA9: ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"),
}
#: TLS 1.3 suites: always enabled, in Go as in OpenSSL; listing them changes nothing
TLS13_SUITES = frozenset({0x1301, 0x1302, 0x1303})
#: lura's ``defaultCipherSuites``
DEFAULT_SUITES = (0xC02F, 0xC02B, 0xC030, 0xC02C, 0xCCA8, 0xCCA9)
#: Go ``tls.CurveID`` → OpenSSL group name (``None``: not available in OpenSSL 3.0)
CURVES: dict[int, tuple[str, str | None]] = {
    23: ("CurveP256", "prime256v1"),
    24: ("CurveP384", "secp384r1"),
    25: ("CurveP521", "secp521r1"),
    29: ("X25519", "X25519"),
    4588: ("X25519MLKEM768", None),
}
DEFAULT_CIPHERS = ":".join(str(CIPHER_SUITES[s][1]) for s in DEFAULT_SUITES)
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_LEGACY_VERSIONS = frozenset({"SSL3.0", "TLS10", "TLS11"})


@dataclass(frozen=True, slots=True)
class KeyPair:
    """One certificate (chain) file and its private key file, with the JSON path they came from."""

    public_key: str
    private_key: str
    path: str


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """The HTTPS listener, as OpenSSL will apply it."""

    keys: tuple[KeyPair, ...]
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    #: OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are always on)
    ciphers: str = DEFAULT_CIPHERS
    #: the one key-exchange group to enforce; ``None`` keeps OpenSSL's defaults
    curve: str | None = None
    enable_mtls: bool = False
    ca_certs: tuple[str, ...] = ()
    system_ca_pool: bool = True

    def protocol(self) -> tuple[object, ...]:
        """Everything but the files: what a reload can change only with a restart."""
        return (self.min_version, self.max_version, self.ciphers, self.curve, self.enable_mtls, self.system_ca_pool)

    def files(self) -> tuple[str, ...]:
        """Every file the listener reads (certificates, keys, client CAs)."""
        return tuple(f for pair in self.keys for f in (pair.public_key, pair.private_key)) + self.ca_certs


class _Issues:
    def __init__(self) -> None:
        self.errors: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(ConfigIssue(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(ConfigIssue(path, message, "warning"))


def _keys(raw: Mapping[str, Any], out: _Issues) -> list[KeyPair]:
    pairs: list[KeyPair] = []
    listed = raw.get("keys")
    for i, item in enumerate(listed if isinstance(listed, list) else []):
        path = f"tls.keys[{i}]"
        if not isinstance(item, Mapping):
            out.error(path, "expected an object with public_key and private_key")
            continue
        public, private = item.get("public_key") or "", item.get("private_key") or ""
        if not public:
            out.error(f"{path}.public_key", "public key not defined")
        if not private:
            out.error(f"{path}.private_key", "private key not defined")
        if public and private:
            pairs.append(KeyPair(str(public), str(private), path))
    public, private = raw.get("public_key") or "", raw.get("private_key") or ""
    if public or private:  # lura appends the legacy pair after keys[]
        if not public:
            out.error("tls.public_key", "public key not defined (private_key is set)")
        elif not private:
            out.error("tls.private_key", "private key not defined (public_key is set)")
        else:
            pairs.append(KeyPair(str(public), str(private), "tls"))
    if not pairs and not out.errors:
        out.error("tls", "public key not defined: set keys[] (or disabled: true for plain HTTP)")
    return pairs


def _version(raw: Mapping[str, Any], key: str, out: _Issues) -> ssl.TLSVersion:
    value = raw.get(key) or "TLS13"  # lura: anything unknown, including nothing, is TLS 1.3
    if value in _LEGACY_VERSIONS:
        if key == "min_version":
            out.warn(
                f"tls.{key}",
                f"{value} is served as TLS12: OpenSSL 3 refuses TLS 1.1 and older at its default security level",
            )
            return ssl.TLSVersion.TLSv1_2
        out.error(f"tls.{key}", f"{value}: TLS 1.1 and older are not available (OpenSSL 3's security level)")
        return ssl.TLSVersion.TLSv1_3
    return _VERSIONS.get(str(value), ssl.TLSVersion.TLSv1_3)


def _ciphers(listed: object, tls12: bool, out: _Issues) -> str:
    if not isinstance(listed, list) or not listed:
        return DEFAULT_CIPHERS
    names: list[str] = []
    dropped: list[str] = []
    for i, suite in enumerate(listed):
        if not isinstance(suite, int) or isinstance(suite, bool):
            out.error(f"tls.cipher_suites[{i}]", "expected a cipher suite id (integer)")
            continue
        if suite in TLS13_SUITES:
            continue
        known = CIPHER_SUITES.get(suite)
        if known is None:
            dropped.append(f"{suite} (not a TLS 1.0-1.2 suite of Go's crypto/tls)")
        elif known[1] is None:
            dropped.append(f"{suite} ({known[0]}, not available in {ssl.OPENSSL_VERSION})")
        else:
            names.append(known[1])
    if dropped:
        out.warn("tls.cipher_suites", "not offered: " + ", ".join(dropped))
    if tls12 and not names and not out.errors:
        out.error("tls.cipher_suites", "no usable TLS 1.2 cipher suite left (TLS 1.2 is allowed by min_version)")
    return ":".join(names) if names else DEFAULT_CIPHERS


def _curve(listed: object, out: _Issues) -> str | None:
    if not isinstance(listed, list) or not listed:
        return None
    names: list[str] = []
    for i, curve in enumerate(listed):
        known = CURVES.get(curve) if isinstance(curve, int) and not isinstance(curve, bool) else None
        if known is None:
            out.error(f"tls.curve_preferences[{i}]", f"unknown curve id {curve!r} (23, 24, 25 or 29)")
        elif known[1] is None:
            out.warn(f"tls.curve_preferences[{i}]", f"{known[0]} is not available in {ssl.OPENSSL_VERSION}: ignored")
        else:
            names.append(known[1])
    if len(names) == 1:
        return names[0]
    if names:
        out.warn(
            "tls.curve_preferences",
            "Python's ssl module can enforce a single curve only: with several listed, OpenSSL's default "
            "groups are offered (X25519, P-256, P-384, P-521...); list one curve to restrict the key exchange",
        )
    return None


def _strings(raw: Mapping[str, Any], key: str, out: _Issues) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    out.error(f"tls.{key}", "expected a list of file paths")
    return ()


def parse_tls(raw: object) -> tuple[TlsOptions | None, list[ConfigIssue], list[ConfigIssue]]:
    """``(options, errors, warnings)``; options are ``None`` when there is no ``tls`` block or it is
    ``disabled`` (plain HTTP, as in KrakenD)."""
    out = _Issues()
    if raw is None:
        return None, [], []
    if not isinstance(raw, Mapping):
        out.error("tls", "expected an object")
        return None, out.errors, out.warnings
    if raw.get("disabled") is True:
        return None, [], []
    keys = _keys(raw, out)
    low, high = _version(raw, "min_version", out), _version(raw, "max_version", out)
    if high < low and not out.errors:
        out.error("tls.max_version", "lower than min_version: no TLS version left")
    options = TlsOptions(
        keys=tuple(keys),
        min_version=low,
        max_version=high,
        ciphers=_ciphers(raw.get("cipher_suites"), low <= ssl.TLSVersion.TLSv1_2, out),
        curve=_curve(raw.get("curve_preferences"), out),
        enable_mtls=raw.get("enable_mtls") is True,
        ca_certs=_strings(raw, "ca_certs", out),
        system_ca_pool=raw.get("disable_system_ca_pool") is not True,
    )
    if not options.enable_mtls and options.ca_certs:
        out.warn("tls.ca_certs", "only used with enable_mtls: true: ignored")
    return (None if out.errors else options), out.errors, out.warnings
