"""confab's version, in a module of its own: checkpoints, datasets and the server record it without importing
the package's public API (and, through it, the model families)."""

__version__ = "0.1.0"
