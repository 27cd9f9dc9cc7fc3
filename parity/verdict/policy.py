"""The checker's settings, as data: per network and per context, each row with its reason.

How a difference is judged (the grounds, the tolerances) is :mod:`parity.verdict.tolerance`;
this table says what the checker runs: the batch it probes with, and which dtypes a context
can judge.  A setting that is not here is the default row.
"""
from __future__ import annotations

from dataclasses import dataclass

from modern_cnns.parity.verdict.checks import AFTER_STEPS, STATISTICS, CheckSet

#: the seed of the weights (MXNet's Xavier) and of the probe batches, unless ``--seed`` says otherwise
SEED = 0
#: the SGD learning rate of the checker's training steps: large enough that K steps move every weight
LR = 0.05
#: first-divergence threshold in float32: per-layer forward noise reaches 1.3e-5 in ResNet-18,
#: and a real break leaves far more
LOCALISE_FLOAT32_RTOL = 1e-4


@dataclass(frozen=True)
class NetworkSettings:
    """What the checker runs for one network."""

    batch_size: int  #: samples per probe and training batch
    reason: str


DEFAULT_SETTINGS = NetworkSettings(
    4, "BatchNorm needs several samples to be well conditioned: a dense BN over 2 samples outputs +-1 "
       "whatever the input")

_BN_FREE_224 = NetworkSettings(
    1, "no BatchNorm, 224x224 input: one sample conditions every check, and float64 convolutions at 224x224 "
       "dominate the sweep's time")

NETWORK_SETTINGS = {
    "alexnet": _BN_FREE_224,
    "vgg11": _BN_FREE_224,
    "vgg_small": _BN_FREE_224,
    "nin": _BN_FREE_224,
    "resnet": NetworkSettings(
        8, "the last stage runs at 1x1, where BatchNorm normalises over the batch alone: 4 samples leave it "
           "ill-conditioned (float64 trajectories part at 2e-10), 8 keep them at 5e-12"),
}


def settings_for(network: str) -> NetworkSettings:
    """The row for ``network``, or :data:`DEFAULT_SETTINGS`."""
    return NETWORK_SETTINGS.get(network, DEFAULT_SETTINGS)


@dataclass(frozen=True)
class KnownDifference:
    """A difference of the course itself, not of a port: reported as such when it is all that differs."""

    checks: CheckSet  #: the only checks allowed to fail
    finding: str     #: a diagnosis that must be among the findings (the difference, measured)
    reason: str


KNOWN_DIFFERENCES = {
    "bn_lenet_concise_d2l_stock": KnownDifference(
        CheckSet((STATISTICS, AFTER_STEPS), ("running_var", "running_mean")),
        "n/(n-1)",
        "d2l 0.17 §7.5.5 trains nn.BatchNorm2d/1d, which keep torch's unbiased running variance (and a double "
        "momentum), where gluonbook's BatchNorm keeps the biased one: the editions differ, by the measured n/(n-1). "
        "Outputs, gradients and weights agree."),
}


@dataclass(frozen=True)
class ContextRule:
    """Which dtypes are judged in a context (``device_label``: "cpu", "cpu (oneDNN off)", "gpu")."""

    dtypes: tuple
    reason: str


CONTEXT_RULES = {
    "cpu (oneDNN off)": ContextRule(
        ("float64",), "MXNet's native float32 kernels are far more accurate than PyTorch's CPU kernels (VGG-11 "
                      "input gradient: 3.8e-7 from float64 for MXNet, 1.8e-2 for torch), so a float32 verdict "
                      "there would judge torch's kernels, not the port: float32 is judged in the default cpu "
                      "context"),
}


def float64_only_reason(context: str) -> str | None:
    """Why ``context`` judges float64 only, or None when it judges both dtypes."""
    rule = CONTEXT_RULES.get(context)
    return rule.reason if rule is not None and "float32" not in rule.dtypes else None
