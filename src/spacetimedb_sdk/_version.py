"""The package version, in one place (the facade, ``--version`` and generated headers read it)."""

__version__ = "2.0.0.dev0"
