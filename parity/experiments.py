"""Every training run in the course, with the course's hyper-parameters as defaults."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Experiment:
    name: str
    network: str             # registry name
    loop: str                # "ch5" (gluonbook train_ch5, both frameworks) or "ch6" (torch: d2l train_ch6)
    lr: float
    epochs: int
    batch_size: int
    resize: int | None
    reference: str | None    # key in data/reference/course_results.json
    source: str


EXPERIMENTS = {e.name: e for e in [
    Experiment("bn_lenet_scratch", "bn_lenet_scratch", "ch5", 1.0, 5, 256, None, "seed004_bn_lenet_scratch",
               "seed 004, gluonbook 5.11.3"),
    Experiment("bn_lenet_concise", "bn_lenet_concise", "ch5", 1.0, 5, 256, None, None, "seed 004, gluonbook 5.11.4"),
    Experiment("bn_lenet_scratch_d2l", "bn_lenet_scratch_d2l", "ch6", 1.0, 10, 256, None, "seed003_bn_lenet_scratch",
               "seed 003, d2l 0.17 7.5.4"),
    Experiment("bn_lenet_concise_d2l", "bn_lenet_concise_d2l", "ch6", 1.0, 10, 256, None, "seed003_bn_lenet_concise",
               "seed 003, d2l 0.17 7.5.5"),
    Experiment("resnet", "resnet", "ch5", 0.05, 5, 256, None, "seed004_resnet", "seed 004, gluonbook 5.12.3"),
    Experiment("resnet18", "resnet18", "ch5", 0.05, 10, 256, 96, None, "d2l ResNet-18 at 96x96"),
    Experiment("densenet", "densenet", "ch5", 0.1, 5, 256, 96, None, "seed 004, gluonbook 5.13.4"),
    Experiment("googlenet", "googlenet", "ch5", 0.1, 10, 128, 96, None, "d2l GoogLeNet at 96x96"),
    Experiment("alexnet", "alexnet", "ch5", 0.01, 10, 128, 224, None, "seed 002 AlexNet(lr=0.01), batch 128"),
    Experiment("vgg_small", "vgg_small", "ch5", 0.01, 10, 128, 224, None, "seed 002 VGG(lr=0.01), batch 128"),
    Experiment("nin", "nin", "ch5", 0.05, 10, 128, 224, None, "seed 002 NiN(lr=0.05), batch 128"),
]}


class UnknownExperiment(KeyError):
    def __str__(self):
        return self.args[0]


def get(name):
    """The experiment called ``name``; an unknown name raises an error listing the valid ones."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise UnknownExperiment(f"unknown experiment {name!r}; valid: {', '.join(EXPERIMENTS)}") from None
