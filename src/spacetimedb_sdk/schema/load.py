"""The schema normalizer's import path: ``normalize`` and the typespace case conversion.

Normalizing a decoded ``RawModuleDef`` into a :class:`~.model.ModuleSchema` lives
with ``ModuleSchema`` in :mod:`.model` (its constructors run it, and it builds one),
the per-entity steps in :mod:`.entity_builders`, the host's case conversion of a
typespace in :mod:`.names`.  This module keeps the names importable from here.

Example::

    >>> schema = normalize(RawModuleDef.from_json(text))  # doctest: +SKIP
"""

from __future__ import annotations

from .model import normalize
from .names import canonicalize_type, canonicalize_typespace

__all__ = ["canonicalize_type", "canonicalize_typespace", "normalize"]
