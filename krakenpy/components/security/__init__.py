"""The ``security/*`` components: CORS, secure headers and host checks, bot detection."""
