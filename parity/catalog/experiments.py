"""Every training run in the course, with the course's hyper-parameters as defaults.

Each experiment runs its edition's code: gluonbook's on the Gluon side (``train_ch5``, Xavier),
and on the torch side the port of that (``loop="ch5"``), d2l 0.17's ``train_ch6``
(``loop="ch6"``), or d2l 1.0's loop with its ``init_cnn`` (``loop="d2l1"``).  Where the
edition's torch network is not the Gluon-equivalent port (d2l 0.17's concise BN-LeNet uses
``nn.BatchNorm2d/1d``), ``torch_overrides`` builds the edition's network.  Where
``init_cnn`` never reached the course's network (d2l 1.0's AlexNet and DenseNet apply it to
Lazy layers before they have shapes: ``torch_impl.d2l_lazy``), ``init="torch_default"``
trains from PyTorch's default initialisation, the Gluon side from the very same weights.
Where each comes from: :mod:`parity.catalog.provenance`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from modern_cnns.parity.catalog.registry import UnknownName, lookup


@dataclass(frozen=True)
class Experiment:
    """One training run of the course: its network, loop and the course's hyper-parameters."""
    name: str
    network: str             # registry name
    loop: str                # the torch side's loop: "ch5" (the port of gluonbook's train_ch5), "ch6" (d2l
    #                          0.17's train_ch6) or "d2l1" (d2l 1.0's Trainer.fit: the same steps, init_cnn
    #                          where the course's cell reaches its layers). Gluon always runs gluonbook's train_ch5.
    lr: float
    epochs: int
    batch_size: int
    resize: int | None
    reference: str | None    # key in data/reference/course_results.json
    torch_overrides: dict = field(default_factory=dict)  # builder arguments that make the edition's torch network
    init: str = "xavier"     # how the networks start: "xavier" (Gluon: init.Xavier(); torch: the loop's own
    #                          initialiser) or "torch_default" (torch's default draw, copied into Gluon)

    @property
    def source(self):
        """Where the experiment comes from (:mod:`parity.catalog.provenance`)."""
        from modern_cnns.parity.catalog.provenance import experiment_source

        return experiment_source(self.name)


EXPERIMENTS = {e.name: e for e in [
    Experiment("bn_lenet_scratch", "bn_lenet_scratch", "ch5", 1.0, 5, 256, None, "gluonbook_bn_lenet_scratch"),
    Experiment("bn_lenet_concise", "bn_lenet_concise", "ch5", 1.0, 5, 256, None, None),
    Experiment("bn_lenet_scratch_d2l", "bn_lenet_scratch_d2l", "ch6", 1.0, 10, 256, None, "d2l017_bn_lenet_scratch"),
    Experiment("bn_lenet_concise_d2l", "bn_lenet_concise_d2l", "ch6", 1.0, 10, 256, None, "d2l017_bn_lenet_concise",
               torch_overrides={"batchnorm": "stock"}),
    Experiment("resnet", "resnet", "ch5", 0.05, 5, 256, None, "gluonbook_resnet"),
    Experiment("resnet18", "resnet18", "ch6", 0.05, 10, 256, 96, None),
    Experiment("densenet", "densenet", "ch5", 0.1, 5, 256, 96, None),
    Experiment("googlenet", "googlenet", "ch6", 0.1, 10, 128, 96, None),
    Experiment("alexnet", "alexnet", "d2l1", 0.01, 10, 128, 224, None, init="torch_default"),
    Experiment("vgg_small", "vgg_small", "d2l1", 0.01, 10, 128, 224, None),
    Experiment("nin", "nin", "d2l1", 0.05, 10, 128, 224, None),
    Experiment("bn_lenet_d2l_v1", "bn_lenet_scratch_d2l_v1", "d2l1", 0.1, 10, 128, None, None),
    Experiment("densenet_d2l", "densenet_d2l", "d2l1", 0.01, 10, 128, 96, None, init="torch_default"),
]}


class UnknownExperiment(UnknownName):
    """An experiment name that is not in the catalog."""
    what, listing = "experiment", "valid"


def get(name: str) -> Experiment:
    """The experiment called ``name``; an unknown name raises an error listing the valid ones."""
    return lookup(EXPERIMENTS, name, UnknownExperiment)
