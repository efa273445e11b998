"""The ``tls`` block read into OpenSSL terms: KrakenD's rules, Go's ids, what cannot be honoured."""

from __future__ import annotations

import ssl
from typing import Any

from krakenpy.server.tls import TlsOptions, parse_tls


def _parse(raw: Any) -> tuple[TlsOptions | None, list[str], list[str]]:
    options, errors, warnings = parse_tls(raw)
    return options, [str(e) for e in errors], [str(w) for w in warnings]


PAIR = {"public_key": "a.crt", "private_key": "a.key"}


def test_tls_absent_or_disabled_is_plain_http() -> None:
    assert _parse(None) == (None, [], [])
    assert _parse({"disabled": True, "keys": [PAIR]}) == (None, [], [])


def test_tls_block_without_keys_is_krakends_startup_error() -> None:
    options, errors, _ = _parse({})
    assert options is None
    assert errors == ["tls: public key not defined: set keys[] (or disabled: true for plain HTTP)"]


def test_tls_legacy_pair_is_appended_after_keys() -> None:
    options, errors, _ = _parse({"keys": [PAIR], "public_key": "b.crt", "private_key": "b.key"})
    assert errors == []
    assert options is not None
    assert [(k.public_key, k.path) for k in options.keys] == [("a.crt", "tls.keys[0]"), ("b.crt", "tls")]


def test_tls_half_pairs_are_errors_at_their_paths() -> None:
    _, errors, _ = _parse({"keys": [{"public_key": "a.crt"}], "private_key": "b.key"})
    assert errors == [
        "tls.keys[0].private_key: private key not defined",
        "tls.public_key: public key not defined (private_key is set)",
    ]


def test_tls_versions_default_to_tls13_as_lura() -> None:
    options, _, _ = _parse({"keys": [PAIR]})
    assert options is not None
    assert (options.min_version, options.max_version) == (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3)
    options, _, _ = _parse({"keys": [PAIR], "min_version": "TLS12"})
    assert options is not None and options.min_version == ssl.TLSVersion.TLSv1_2


def test_tls_legacy_min_version_is_raised_to_tls12_with_a_warning() -> None:
    options, errors, warnings = _parse({"keys": [PAIR], "min_version": "TLS10"})
    assert errors == [] and options is not None
    assert options.min_version == ssl.TLSVersion.TLSv1_2
    assert warnings == [
        "tls.min_version: TLS10 is served as TLS12: OpenSSL 3 refuses TLS 1.1 and older at its default security level"
    ]


def test_tls_impossible_versions_are_errors() -> None:
    assert _parse({"keys": [PAIR], "max_version": "TLS11"})[1][0].startswith("tls.max_version: TLS11: TLS 1.1")
    assert _parse({"keys": [PAIR], "min_version": "TLS13", "max_version": "TLS12"})[1] == [
        "tls.max_version: lower than min_version: no TLS version left"
    ]


def test_tls_cipher_suites_map_go_ids_and_name_what_cannot_be_offered() -> None:
    raw = {"keys": [PAIR], "min_version": "TLS12", "cipher_suites": [49199, 5, 4865, 9999, 52393]}
    options, errors, warnings = _parse(raw)
    assert errors == [] and options is not None
    assert options.ciphers == "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"
    assert len(warnings) == 1
    assert warnings[0].startswith("tls.cipher_suites: not offered: 5 (TLS_RSA_WITH_RC4_128_SHA, not available in")
    assert "9999 (not a TLS 1.0-1.2 suite of Go's crypto/tls)" in warnings[0]  # 4865 is TLS 1.3: always on


def test_tls_cipher_suites_all_unusable_with_tls12_is_an_error() -> None:
    _, errors, _ = _parse({"keys": [PAIR], "min_version": "TLS12", "cipher_suites": [5, 10]})
    assert errors == ["tls.cipher_suites: no usable TLS 1.2 cipher suite left (TLS 1.2 is allowed by min_version)"]
    # TLS 1.3 only: the TLS 1.2 list does not matter
    assert _parse({"keys": [PAIR], "cipher_suites": [5]})[1] == []


def test_tls_default_ciphers_are_luras_six_ecdhe_aead_suites() -> None:
    options, _, _ = _parse({"keys": [PAIR], "min_version": "TLS12"})
    assert options is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(options.ciphers)
    tls12 = sorted(c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2")
    assert tls12 == sorted(
        [
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-CHACHA20-POLY1305",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        ]
    )


def test_tls_curves_one_is_enforced_several_warn_unknown_fail() -> None:
    options, _, warnings = _parse({"keys": [PAIR], "curve_preferences": [24]})
    assert options is not None and options.curve == "secp384r1" and warnings == []
    options, _, warnings = _parse({"keys": [PAIR], "curve_preferences": [23, 29]})
    assert options is not None and options.curve is None
    assert warnings[0].startswith("tls.curve_preferences: Python's ssl module can enforce a single curve only")
    assert _parse({"keys": [PAIR], "curve_preferences": [99]})[1] == [
        "tls.curve_preferences[0]: unknown curve id 99 (23, 24, 25 or 29)"
    ]


def test_tls_mtls_options_and_unused_ca_certs() -> None:
    options, _, warnings = _parse(
        {"keys": [PAIR], "enable_mtls": True, "ca_certs": ["ca.pem"], "disable_system_ca_pool": True}
    )
    assert options is not None
    assert (options.enable_mtls, options.ca_certs, options.system_ca_pool) == (True, ("ca.pem",), False)
    assert options.files() == ("a.crt", "a.key", "ca.pem")
    assert warnings == []
    assert _parse({"keys": [PAIR], "ca_certs": ["ca.pem"]})[2] == [
        "tls.ca_certs: only used with enable_mtls: true: ignored"
    ]
