"""Import gluoncv beside PyTorch 2.

gluoncv 0.10.5 checks, at import time, that any importable ``torch`` is older
than 2.0 and raises ``RuntimeError`` otherwise, even though its MXNet half never
touches torch.  ``sys.modules['torch'] = None`` makes ``import torch`` raise
``ImportError`` for the duration of that check, which gluoncv treats as "no
PyTorch" and carries on with MXNet.  The real torch module (if it was already
imported) is put back afterwards, so the rest of the process is unaffected.
"""
import importlib
import sys

_MISSING = object()


def import_gluoncv():
    """Return the ``gluoncv`` module, imported with torch hidden from its version check."""
    if "gluoncv" in sys.modules:
        return sys.modules["gluoncv"]
    saved = sys.modules.get("torch", _MISSING)
    # None in sys.modules makes the import raise ImportError (the import system's rule); typeshed
    # types sys.modules as holding modules only
    sys.modules["torch"] = None  # pyright: ignore[reportArgumentType]
    try:
        return importlib.import_module("gluoncv")
    finally:
        if saved is _MISSING:
            del sys.modules["torch"]
        else:
            sys.modules["torch"] = saved  # pyright: ignore[reportArgumentType]  (what was there: a module, or None)
