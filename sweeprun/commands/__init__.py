"""One module per CLI command; each exposes ``run(**options) -> int``."""
