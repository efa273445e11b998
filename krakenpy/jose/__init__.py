"""JOSE support for the ``auth/*`` components: compact JWS parsing, key sets (local, remote with
background refresh), claim checks, token signing and bloom-filter revocation.

Key parsing and the signature algorithms come from joserfc (RSA/EC/EdDSA through ``cryptography``,
HMAC through the standard library); token parsing and KrakenD's claim rules are krakenpy's own, so a
request pays for the signature check and a few dictionary look-ups only.
"""
