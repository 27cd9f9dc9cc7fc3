"""Where every network and experiment comes from: the course's edition, section and a link.

The course exists in three editions, and the project reproduces code from each:

* **gluonbook**: *Dive into Deep Learning*, MXNet edition (2019), whose code lives in the
  ``gluonbook`` package (``gb.train_ch5``, ``gb.load_data_fashion_mnist``).  Its chapter 5
  holds LeNet (§5.6) to DenseNet (§5.13).  The Gluon LeNet, BN-LeNets, scratch BatchNorm,
  ResNet (three residuals per stage) and DenseNet are its code; the Gluon twins of the PyTorch
  editions' networks are written here in its style (each module's docstring says which).
* **d2l 0.17**: the PyTorch edition of 2021 (``d2l`` 0.17), chapter 7 "Modern Convolutional
  Neural Networks" (§7.1 AlexNet to §7.7 DenseNet), trained with ``d2l.train_ch6``.
* **d2l 1.0**: the 2023 edition (``d2l`` 1.0), chapter 8 (§8.1 AlexNet to §8.7 DenseNet),
  with lazy modules and its ``Trainer``.

``cite(name)`` gives the line that CLI output, reports and docstrings print, and ``url(name)``
the page, where the edition has one online.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Edition:
    """One edition of the course, as users cite and find it."""
    name: str        #: short name, as cited: "gluonbook", "d2l 0.17", "d2l 1.0"
    title: str       #: what a reader searches for
    home: str        #: where the edition can be read or installed
    chapter_url: str | None = None  #: a section's page is ``chapter_url + page``, where the edition is online


GLUONBOOK = Edition("gluonbook", "Dive into Deep Learning, MXNet edition (gluonbook, 2019)",
                    "https://pypi.org/project/gluonbook/")
D2L_017 = Edition("d2l 0.17", "Dive into Deep Learning, PyTorch edition (d2l 0.17, 2021)",
                  "https://classic.d2l.ai/", "https://classic.d2l.ai/chapter_convolutional-modern/")
D2L_10 = Edition("d2l 1.0", "Dive into Deep Learning (d2l 1.0, 2023)",
                 "https://d2l.ai/", "https://d2l.ai/chapter_convolutional-modern/")


@dataclass(frozen=True)
class Source:
    """One section of one edition."""

    edition: Edition
    section: str     #: "5.11.3"
    title: str       #: "Use a Batch Normalization LeNet"
    page: str | None = None  #: the section's page within ``edition.chapter_url``
    note: str = ""   #: how the project's code relates to it, where not verbatim

    def cite(self) -> str:
        """``"gluonbook §5.11.3 Use a Batch Normalization LeNet"``."""
        return f"{self.edition.name} §{self.section} {self.title}"

    def url(self) -> str:
        """The section's page, or the edition's home where it has no page online."""
        if self.edition.chapter_url and self.page:
            return self.edition.chapter_url + self.page
        return self.edition.home


def _gb(section, title, note=""):
    return Source(GLUONBOOK, section, title, note=note)


def _d17(section, title, page, note=""):
    return Source(D2L_017, section, title, page, note)


def _d10(section, title, page, note=""):
    return Source(D2L_10, section, title, page, note)


#: every registry network (``python -m parity list``)
NETWORKS = {
    "lenet": _gb("5.6", "Convolutional Neural Networks (LeNet)"),
    "lenet_d2l": _d17("6.6", "Convolutional Neural Networks (LeNet)", None,
                      "d2l's PyTorch LeNet; the Gluon twin is written to match it"),
    "bn_lenet_scratch": _gb("5.11.3", "Use a Batch Normalization LeNet"),
    "bn_lenet_concise": _gb("5.11.4", "Gluon Implementation for Batch Normalization"),
    "bn_lenet_scratch_d2l": _d17("7.5.4", "Applying Batch Normalization in LeNet", "batch-norm.html"),
    "bn_lenet_scratch_d2l_v1": _d10("8.5.4", "LeNet with Batch Normalization", "batch-norm.html"),
    "bn_lenet_concise_d2l": _d17("7.5.5", "Concise Implementation", "batch-norm.html",
                                 "the port's BatchNorm has Gluon's semantics; the edition's nn.BatchNorm2d/1d "
                                 "is the experiment's (python -m parity reproduce bn_lenet_concise_d2l)"),
    "bn_lenet_concise_d2l_stock": _d17("7.5.5", "Concise Implementation", "batch-norm.html",
                                       "the edition's code as written, stock torch BatchNorm"),
    "alexnet": _d10("8.1", "Deep Convolutional Neural Networks (AlexNet)", "alexnet.html"),
    "vgg11": _d10("8.2", "Networks Using Blocks (VGG)", "vgg.html"),
    "vgg_small": _d10("8.2.3", "Training", "vgg.html", "the small VGG the section trains"),
    "nin": _d10("8.3", "Network in Network (NiN)", "nin.html"),
    "googlenet": _d17("7.4", "Networks with Parallel Concatenations (GoogLeNet)", "googlenet.html",
                      "not in the course material: the edition's network at 96x96"),
    "resnet": _gb("5.12.2", "ResNet Model", "three residuals per stage, 28x28 input"),
    "resnet18": _d17("7.6", "Residual Networks (ResNet)", "resnet.html", "ResNet-18 at 96x96"),
    "densenet": _gb("5.13.3", "DenseNet Model"),
    "densenet_d2l": _d10("8.7.4", "DenseNet Model", "densenet.html", "the transitions halve the channels"),
}

#: every experiment (``python -m parity reproduce --list``)
EXPERIMENTS = {
    "bn_lenet_scratch": _gb("5.11.3", "Use a Batch Normalization LeNet"),
    "bn_lenet_concise": _gb("5.11.4", "Gluon Implementation for Batch Normalization"),
    "bn_lenet_scratch_d2l": _d17("7.5.4", "Applying Batch Normalization in LeNet", "batch-norm.html"),
    "bn_lenet_concise_d2l": _d17("7.5.5", "Concise Implementation", "batch-norm.html"),
    "resnet": _gb("5.12.3", "Data Acquisition and Training"),
    "resnet18": _d17("7.6.4", "Training", "resnet.html"),
    "densenet": _gb("5.13.4", "Data Acquisition and Training"),
    "googlenet": _d17("7.4.3", "Training", "googlenet.html"),
    "alexnet": _d10("8.1.3", "Training", "alexnet.html"),
    "vgg_small": _d10("8.2.3", "Training", "vgg.html"),
    "nin": _d10("8.3.3", "Training", "nin.html"),
    "bn_lenet_d2l_v1": _d10("8.5.4", "LeNet with Batch Normalization", "batch-norm.html"),
    "densenet_d2l": _d10("8.7.5", "Training", "densenet.html"),
}


def network_source(name: str) -> Source:
    """Where registry network ``name`` comes from."""
    return NETWORKS[name]


def experiment_source(name: str) -> Source:
    """Where experiment ``name`` comes from."""
    return EXPERIMENTS[name]
