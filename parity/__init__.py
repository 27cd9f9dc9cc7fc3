"""Cross-framework tools: the catalog, weight transfer, the parity checker and the course runs.

The only package that imports both MXNet and PyTorch (each lazily, so that it also loads where
only one of them is installed).  The public API, for verifying a port of your own::

    from modern_cnns.parity import check_pair, use_gluon_batchnorm

    for result in check_pair(gluon_block, torch_module, (3, 224, 224)):
        print(result.dtype, "PASS" if result.passed else "FAIL", result.first_divergence, result.diagnosis)

Its one name is ``modern_cnns.parity``.  ``python -m parity`` from a checkout imports this file as
``parity`` first: it then stands aside for ``modern_cnns.parity`` (below), so that every module of
the process is loaded once, under one name, and an ``isinstance`` never meets a second copy of a class.
"""
from __future__ import annotations

import sys
from importlib import import_module
from typing import TYPE_CHECKING

if __name__ == "parity":  # `python -m parity` from a checkout: be modern_cnns.parity, not a copy of it
    sys.modules[__name__] = import_module("modern_cnns.parity")

if TYPE_CHECKING:  # what __getattr__ gives, spelled out for type checkers and editors
    from modern_cnns.parity.verdict.check import Result, Row, check_network
    from modern_cnns.parity.verdict.ports import check_pair, suggest_map
    from modern_cnns.torch_impl.gluon_layers import use_gluon_batchnorm

__all__ = ["check_pair", "check_network", "suggest_map", "use_gluon_batchnorm", "Result", "Row"]

#: public name -> the module that defines it (imported on first use)
_HOMES = {
    "check_pair": "modern_cnns.parity.verdict.ports",
    "suggest_map": "modern_cnns.parity.verdict.ports",
    "check_network": "modern_cnns.parity.verdict.check",
    "Result": "modern_cnns.parity.verdict.check",
    "Row": "modern_cnns.parity.verdict.check",
    "use_gluon_batchnorm": "modern_cnns.torch_impl.gluon_layers",
}


def __getattr__(name: str) -> object:  # lazy: importing modern_cnns.parity must not import MXNet or torch
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
