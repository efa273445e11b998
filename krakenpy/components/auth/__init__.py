"""The ``auth/*`` namespaces: JWT validation and signing, revocation, client credentials, API keys, basic auth."""
