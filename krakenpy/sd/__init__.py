"""Service discovery: where a backend's hosts come from when they are not written in the config."""
