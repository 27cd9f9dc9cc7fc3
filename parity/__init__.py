"""Cross-framework tools: the catalog, weight transfer, the parity checker and the course runs.

The only package that imports both MXNet and PyTorch (each lazily, so that it also loads where
only one of them is installed).  The public API, for verifying a port of your own::

    from modern_cnns.parity import check_pair, use_gluon_batchnorm

    for result in check_pair(gluon_block, torch_module, (3, 224, 224)):
        print(result.dtype, "PASS" if result.passed else "FAIL", result.first_divergence, result.diagnosis)
"""
from __future__ import annotations

__all__ = ["check_pair", "check_network", "suggest_map", "use_gluon_batchnorm", "Result", "Row"]


def __getattr__(name):  # lazy: importing modern_cnns.parity must not import MXNet or torch
    if name in ("check_pair", "suggest_map"):
        from modern_cnns.parity.verdict import ports

        return getattr(ports, name)
    if name in ("check_network", "Result", "Row"):
        from modern_cnns.parity.verdict import check

        return getattr(check, name)
    if name == "use_gluon_batchnorm":
        from modern_cnns.torch_impl.gluon_layers import use_gluon_batchnorm

        return use_gluon_batchnorm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
