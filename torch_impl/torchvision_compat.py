"""Import torchvision's model zoo beside a CPU torch whose torchvision is a CUDA build.

torchvision 0.28.0, the release for torch 2.13, is published as a CUDA build.  Beside
torch ``2.13.0+cpu`` its compiled extension ``torchvision._C`` fails to load, and the
import then dies in ``torchvision/_meta_registrations.py`` at
``register_fake("torchvision::nms")``: registering a fake kernel needs the operator's
schema, which the extension would have defined.  Defining the ``nms`` and ``qnms``
schemas first (what ``_C`` declares) lets the rest of torchvision import; the model
zoo is pure Python and never calls those operators.  Where ``_C`` does load, the
schemas already exist and nothing is defined here.
"""
from __future__ import annotations

import importlib

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # kept alive: a Library's definitions vanish when it is garbage-collected


def _extension_loads() -> bool:
    """Does ``torchvision._C`` load here (as ``import torchvision`` would load it)?"""
    import glob
    import importlib.util
    import os

    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:  # absent, or a lone module that is not the package
        raise ImportError("torchvision is not installed (pip install -r requirements.txt)")
    for path in glob.glob(os.path.join(spec.submodule_search_locations[0], "_C*.so")):
        try:
            torch.ops.load_library(path)
            return True
        except (OSError, RuntimeError):
            return False
    return False


def _define_missing_schemas() -> None:
    global _library
    import torch

    if "torchvision" in __import__("sys").modules or _library is not None or _extension_loads():
        return
    _library = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS.values():
        _library.define(schema)


def import_torchvision():
    """``import torchvision``, defining the op schemas its meta registrations need if ``_C`` did not."""
    _define_missing_schemas()
    return importlib.import_module("torchvision")


def torchvision_models():
    """``torchvision.models``."""
    import_torchvision()
    return importlib.import_module("torchvision.models")
