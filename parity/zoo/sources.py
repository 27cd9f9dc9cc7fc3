"""The pairs a zoo source offers: names present on both sides, each with its input size.

``gluoncv2:pytorchcv``: gluoncv2 0.0.64 and pytorchcv 0.0.74 are one author's mirrored zoos
(the same model names, the same builders in MXNet Gluon and PyTorch); every name both register
is a pair (843).  The input size is the PyTorch model's own ``in_size`` (32 for the CIFAR/SVHN
models, 224 for most ImageNet ones), read from a model built on torch's ``meta`` device, which
allocates nothing.

``gluoncv:torchvision``: the two zoos name their models differently and only some of their
architectures agree, so the pairs are a table, each row with why the two are the same network.
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any

SOURCES = ("gluoncv2:pytorchcv", "gluoncv:torchvision")


class UnknownSource(ValueError):
    """A zoo source this project does not know; lists the ones it does."""


def _unknown(name) -> UnknownSource:
    return UnknownSource(f"unknown zoo source {name!r}; valid sources: {', '.join(SOURCES)}")


@dataclass(frozen=True)
class ZooPair:
    """One architecture published by both zoos of a source."""
    source: str
    name: str                   # the pair's name in reports (the Gluon zoo's name)
    torch_name: str
    input_size: int             # spatial size both sides take (square)
    params: int = 0             # parameters of the PyTorch model (for the memory estimate)
    #: keyword arguments for each side's builder, and torch parameters with no Gluon counterpart
    gluon_kwargs: tuple = ()
    torch_kwargs: tuple = ()
    zero_frozen: tuple = ()
    why: str = ""
    #: why the PyTorch side cannot even be built here (a missing optional package), or ""
    unbuildable: str = ""

    @property
    def family(self) -> str:
        """The architecture family: the name's leading letters (``resnet20_cifar10`` -> ``resnet``)."""
        leading = re.match(r"[a-z]*", self.name.lower())
        assert leading is not None  # "[a-z]*" matches at the start of every string, if only the empty one
        return leading.group(0) or self.name

    @property
    def input_shape(self) -> tuple:
        return (3, self.input_size, self.input_size)


# --------------------------------------------------------------------------- gluoncv <-> torchvision
@dataclass(frozen=True)
class _Row:
    gluon: str
    torch: str
    size: int = 224
    torch_kwargs: dict = field(default_factory=dict)
    zero_frozen: tuple = ()
    why: str = "same architecture, same layer order"


_RESNET_WHY = "gluoncv's v1b puts the stride in the 3x3 convolution, as torchvision's ResNet (v1.5) does"
_GLUONCV_TORCHVISION = (
    _Row("alexnet", "alexnet"),
    *(_Row(f"vgg{d}{bn}", f"vgg{d}{bn}") for d in (11, 13, 16, 19) for bn in ("", "_bn")),
    *(_Row(f"resnet{d}_v1b", f"resnet{d}", why=_RESNET_WHY) for d in (18, 34, 50, 101, 152)),
    _Row("resnext50_32x4d", "resnext50_32x4d", why=_RESNET_WHY),
    _Row("resnext101_64x4d", "resnext101_64x4d", why=_RESNET_WHY),
    *(_Row(f"densenet{d}", f"densenet{d}") for d in (121, 161, 169, 201)),
    _Row("squeezenet1.0", "squeezenet1_0"),
    _Row("squeezenet1.1", "squeezenet1_1"),
    _Row("googlenet", "googlenet", torch_kwargs={"aux_logits": False, "init_weights": False},
         why="torchvision's GoogLeNet without its auxiliary heads (gluoncv's has none)"),
    _Row("inceptionv3", "inception_v3", 299, {"aux_logits": False, "init_weights": False},
         why="torchvision's Inception v3 without its auxiliary head; 299x299 inputs"),
    _Row("mobilenetv2_1.0", "mobilenet_v2", zero_frozen=("classifier.1.bias",),
         why="gluoncv's classifier is a bias-free 1x1 convolution, torchvision's a Linear with a bias "
             "(declared zero and frozen)"),
    _Row("mobilenetv3_large", "mobilenet_v3_large"),
    _Row("mobilenetv3_small", "mobilenet_v3_small"),
)


def _gluoncv_torchvision() -> list[ZooPair]:
    from modern_cnns.gluon_impl.gluoncv_compat import import_gluoncv
    from modern_cnns.torch_impl.torchvision_compat import import_torchvision

    gluon_names = set(import_gluoncv().model_zoo.get_model_list())
    torchvision = import_torchvision()
    torch_names = set(torchvision.models.list_models(module=torchvision.models))
    pairs = []
    for row in _GLUONCV_TORCHVISION:
        if row.gluon in gluon_names and row.torch in torch_names:
            pairs.append(ZooPair("gluoncv:torchvision", row.gluon, row.torch, row.size,
                                 _torch_params(lambda r=row: getattr(torchvision.models, r.torch)(
                                     num_classes=10, **r.torch_kwargs)),
                                 torch_kwargs=tuple(row.torch_kwargs.items()), zero_frozen=row.zero_frozen,
                                 why=row.why))
    return pairs


# --------------------------------------------------------------------------- gluoncv2 <-> pytorchcv
def _pytorchcv():
    from modern_cnns.torch_impl.torchvision_compat import import_torchvision

    import_torchvision()  # pytorchcv imports torchvision: through the helper, beside a CPU torch
    from pytorchcv import model_provider

    return model_provider


def _gluoncv2_pytorchcv_names() -> list[str]:
    from gluoncv2 import model_provider as gluon_provider

    return sorted(set(gluon_provider._models) & set(_pytorchcv()._models))


def _gluoncv2_pytorchcv_pair(name: str) -> ZooPair:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            size, params = _pytorchcv_shape(_pytorchcv(), name)
        except Exception as err:  # e.g. a speech model whose module imports librosa
            return ZooPair("gluoncv2:pytorchcv", name, name, 0, unbuildable=f"{type(err).__name__}: {err}")
    return ZooPair("gluoncv2:pytorchcv", name, name, size, params, why="the same author's mirrored builders")


def _pytorchcv_shape(provider, name) -> tuple[int, int]:
    """(input size, parameters) of a pytorchcv model, built on the meta device (no memory)."""
    import torch

    try:
        with torch.device("meta"):
            model = provider.get_model(name)
    except ImportError:
        raise
    except Exception:  # a builder that computes on its tensors at construction: build it for real
        model = provider.get_model(name)
    size = getattr(model, "in_size", (224, 224))
    size = size if isinstance(size, (tuple, list)) else (size, size)
    return int(size[0]), sum(p.numel() for p in model.parameters())


def _torch_params(build) -> int:
    import torch

    with torch.device("meta"):
        return sum(p.numel() for p in build().parameters())


def _index_key(source: str) -> str:
    from importlib import metadata

    packages = {"gluoncv2:pytorchcv": ("gluoncv2", "pytorchcv", "torch"),
                "gluoncv:torchvision": ("gluoncv", "torchvision", "torch")}[source]
    return source + " " + " ".join(f"{p}=={metadata.version(p)}" for p in packages)


class _Index:
    """Pairs already described, in ``cache_dir/<source>.index.json``, valid for the exact package versions.

    Describing a pair builds its PyTorch model (on the meta device): a minute for all 843, so
    each is described once, when first selected, and kept.
    """

    def __init__(self, source: str, cache_dir):
        from pathlib import Path

        self.key = _index_key(source)
        self.path = Path(cache_dir) / (source.replace(":", "-") + ".index.json") if cache_dir else None
        self.pairs: dict = {}
        if self.path is not None and self.path.is_file():
            try:
                held = json.loads(self.path.read_text())
                if held.get("key") == self.key:
                    self.pairs = {row["name"]: _from_json(row) for row in held["pairs"]}
            except (ValueError, TypeError, KeyError, AttributeError):
                self.pairs = {}  # a damaged index is rebuilt

    def save(self) -> None:
        from dataclasses import asdict
        from pathlib import Path

        from modern_cnns.parity.weights.checkpoint import atomic_write

        if self.path is None:
            return
        text = json.dumps({"key": self.key, "pairs": [asdict(p) for _, p in sorted(self.pairs.items())]}, indent=0)
        atomic_write(self.path, lambda tmp: Path(tmp).write_text(text))


def _from_json(row: dict) -> ZooPair:
    fields: dict[str, Any] = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list)
                              else v for k, v in row.items()}  # JSON's lists back to the dataclass's tuples
    return ZooPair(**fields)


def enumerate_pairs(source: str, cache_dir=None, match: str | None = None) -> list[ZooPair]:
    """The pairs ``source`` offers whose name matches the glob ``match`` (all by default), sorted by name."""
    if source not in SOURCES:
        raise _unknown(source)
    if source == "gluoncv:torchvision":
        return [p for p in _gluoncv_torchvision() if match is None or fnmatch.fnmatchcase(p.name, match)]
    names = [n for n in _gluoncv2_pytorchcv_names() if match is None or fnmatch.fnmatchcase(n, match)]
    index = _Index(source, cache_dir)
    missing = [n for n in names if n not in index.pairs]
    for name in missing:
        index.pairs[name] = _gluoncv2_pytorchcv_pair(name)
    if missing:
        index.save()
    return [index.pairs[n] for n in names]


def described(source: str, cache_dir) -> list[ZooPair] | None:
    """Every pair ``source`` offers if that is known without building a model (else None): a stopped run's
    report is written at once, from the index as it stands, not after describing the rest."""
    if source == "gluoncv:torchvision":
        return enumerate_pairs(source)
    index = _Index(source, cache_dir)
    names = _gluoncv2_pytorchcv_names()
    return [index.pairs[n] for n in names] if all(n in index.pairs for n in names) else None


def count_offered(source: str) -> int:
    """How many pairs ``source`` offers (names only: cheap)."""
    if source not in SOURCES:
        raise _unknown(source)
    return len(_gluoncv2_pytorchcv_names()) if source == "gluoncv2:pytorchcv" else len(_gluoncv_torchvision())


def select(pairs, max_input=None, limit=None) -> list[ZooPair]:
    """The pairs with input size <= ``max_input``, the first ``limit`` of them.

    A pair that cannot be built here has no known input size: ``max_input`` leaves it out.
    """
    chosen = [p for p in pairs if max_input is None or 0 < p.input_size <= max_input]
    return chosen[:limit] if limit is not None else chosen


# --------------------------------------------------------------------------- building a pair
def build(pair: ZooPair):
    """(Gluon block, torch module) of ``pair``, fresh (random weights; the checker initialises Gluon)."""
    if pair.source == "gluoncv2:pytorchcv":
        from gluoncv2.model_provider import get_model

        return get_model(pair.name, **dict(pair.gluon_kwargs)), _pytorchcv().get_model(pair.torch_name,
                                                                                      **dict(pair.torch_kwargs))
    if pair.source == "gluoncv:torchvision":
        from modern_cnns.gluon_impl.gluoncv_compat import import_gluoncv
        from modern_cnns.torch_impl.torchvision_compat import torchvision_models

        gluon = import_gluoncv().model_zoo.get_model(pair.name, classes=10, **dict(pair.gluon_kwargs))
        return gluon, getattr(torchvision_models(), pair.torch_name)(num_classes=10, **dict(pair.torch_kwargs))
    raise _unknown(pair.source)
