"""The ``validation/*`` namespaces: CEL checks and JSON Schema request-body validation."""
