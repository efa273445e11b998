"""Static credentials for the Enterprise-named guards: API keys and HTTP basic auth."""
