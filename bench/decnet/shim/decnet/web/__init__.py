"""Stand-in package (see decnet/__init__.py of the shims)."""
