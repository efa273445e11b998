"""OAuth2 client credentials for backends (golang.org/x/oauth2 ``clientcredentials`` as KrakenD uses it)."""
