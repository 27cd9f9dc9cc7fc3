"""Which pairs a zoo run takes: input size, families (the PyTorch model file that defines a builder), and
architectures (a name less its dataset)."""
from __future__ import annotations

import re

from modern_cnns.parity.zoo import sources

#: a dataset variant's name ends with its dataset (CIFAR, SVHN, CUB-200; segmentation, detection and pose data):
#: the architecture, trained for other classes
_DATASET = re.compile(r"_(cifar10|cifar100|svhn|cub|voc|coco|cityscapes|ade20k|celebamaskhq|widerface|cmupan)$")


def architecture_of(name: str) -> str:
    """A pair's name less the dataset it was trained on (``resnet110_svhn`` -> ``resnet110``)."""
    return _DATASET.sub("", name)


def preference(pair) -> tuple:
    """The order a family's pairs are taken in: ImageNet ones first, then the cheapest (parameters x pixels)."""
    return _DATASET.search(pair.name) is not None, pair.params * pair.input_size ** 2, pair.name


def choose(offered: list, min_input: int | None, max_input: int | None, per_family: int | None,
           limit: int | None, family=None) -> list:
    """The pairs a run checks, in the order offered: input size within ``[min_input, max_input]``, then
    ``per_family`` architectures of each family (:func:`family_of`; ``family`` replaces it), then the first
    ``limit``.

    Of a family, an architecture trained on ImageNet comes before a dataset variant (``resnet10_cub``,
    ``resnet20_cifar10``), then the cheapest (parameters x pixels), one dataset of each architecture:
    ``--min-input 65 --per-family 1`` is one ImageNet-size pair of every family."""
    family = family or family_of
    pool = [p for p in sources.select(offered, max_input) if min_input is None or p.input_size >= min_input]
    if per_family:
        families: dict = {}
        for p in pool:
            families.setdefault(family(p), []).append(p)
        kept = set()
        for group in families.values():
            architectures: set = set()
            for p in sorted(group, key=preference):
                architecture = architecture_of(p.name)
                if len(architectures) < per_family and architecture not in architectures:
                    architectures.add(architecture)
                    kept.add(p.name)
        pool = [p for p in pool if p.name in kept]
    return pool[:limit] if limit is not None else pool


#: the dataset a PyTorch model file is specialised for (pytorchcv's resnet_cifar.py, resnet_cub.py)
_DATASET_FILE = re.compile(r"_(cifar10|cifar|cub|coco|cmupan)$")


def family_of(pair) -> str:
    """The family ``--per-family`` counts in: the PyTorch model file that defines the pair's builder, less a
    dataset suffix.  pytorchcv keeps one file per architecture (``resnet.py``, with ``resnet_cifar.py`` and
    ``resnet_cub.py`` for its dataset variants; ``ibnresnet.py`` and ``ibndensenet.py`` apart; ``alexnet.py``
    with AlexNet-b); torchvision's ``resnet.py`` holds ResNet and ResNeXt.  A name's leading letters lumped
    ``ibn_densenet`` with ``ibn_resnet`` and split ``alexnet`` from ``alexnetb``."""
    if pair.source == "gluoncv2:pytorchcv":
        builder = sources._pytorchcv()._models.get(pair.torch_name)
    else:
        from modern_cnns.torch_impl.torchvision_compat import torchvision_models

        builder = getattr(torchvision_models(), pair.torch_name, None)
    module = getattr(builder, "__module__", None)
    return _DATASET_FILE.sub("", module.rsplit(".", 1)[-1]) if module else pair.family
