"""The memory a zoo task declares to Ray, so that pairs placed side by side never run out of it.

A task's peak is the two frameworks loaded, float64 copies of the weights (both frameworks'
weights, gradients, the starting and stepped state), and every layer's output of a batch of
:data:`BATCH`, which the checker keeps for its per-layer report and probes.  The last term grows
with depth and resolution, not with the weights: parameters alone were a poor proxy (1.7x under
the 1001-layer CIFAR ResNets' peaks, 2.3x under ResNeXt-272's).  So a model never run here is sized
by counting its layers' outputs, on torch's ``meta`` device (no memory, no arithmetic), and a model
already run declares what it used (:func:`estimate`).
"""
from __future__ import annotations

from modern_cnns.parity.zoo.sources import ZooPair

#: decimal, as the peaks are measured (``ru_maxrss`` kilobytes / 1e6: :func:`~parity.zoo.task._peak_rss_gb`)
GB = 10 ** 9
#: the batch ``check_pair`` runs (its default, which the zoo task keeps)
BATCH = 2
#: Fitted to the peaks the checker of a863fd78318c measured on 2026-11-30, one small gluoncv2/pytorchcv
#: architecture each (the largest of its datasets; 74 that run on ``meta``; docs/FINDINGS.md, "The zoo
#: on Ray"), as an envelope: no peak lies above it.  Least squares gives 0.75 GB + 80 B a parameter +
#: 45 B an output element, within 0.77-1.58x of each peak; the envelope's last term is raised until the
#: worst (densenet100_k12_svhn, 5.2 GB, its FAIL diagnosed) fits: declared 1.0-1.8x of each peak.
BASE_GB, BYTES_PER_PARAM, BYTES_PER_OUTPUT_ELEMENT = 1.0, 96, 80
#: Where no output could be counted (a builder that computes on its tensors, a model that will not
#: run on ``meta``): the first formula, weights and input only (1.0 GB + 72 B a parameter + the input
#: at 6.4 kB an element), with the envelope of the deep CIFAR pairs under 36 M parameters (1.5 GB +
#: 240 B a parameter), beyond which nothing was measured to extend it (a VGG's 140 M would ask 35 GB).
FALLBACK_BYTES_PER_PARAM, BYTES_PER_INPUT_ELEMENT = 8 * 9, 8 * 2 * 400
DEEP_BASE_GB, DEEP_BYTES_PER_PARAM, DEEP_MEASURED_UP_TO = 1.5, 240, 36_000_000


def estimate(pair: ZooPair, measured_gb: float | None = None, outputs: int | None = None) -> int:
    """Bytes a task for ``pair`` declares: 1.25x a peak measured by an earlier run, else the formula of its
    parameters and ``outputs`` (:func:`output_elements`), else the fallback of its parameters alone."""
    if measured_gb:
        return int(max(1.25 * measured_gb * GB, BASE_GB * GB))
    if outputs:
        return int(BASE_GB * GB + pair.params * BYTES_PER_PARAM + outputs * BYTES_PER_OUTPUT_ELEMENT)
    formula = (BASE_GB * GB + pair.params * FALLBACK_BYTES_PER_PARAM
               + 3 * pair.input_size ** 2 * BYTES_PER_INPUT_ELEMENT)
    if pair.params <= DEEP_MEASURED_UP_TO:
        formula = max(formula, DEEP_BASE_GB * GB + pair.params * DEEP_BYTES_PER_PARAM)
    return int(formula)


def count_outputs(module, input_shape: tuple) -> int:
    """Elements of every leaf module's output tensor(s) in one forward of a batch of :data:`BATCH`, run on
    ``meta``; ``module`` must have been built on ``meta`` too."""
    import torch

    total = 0

    def add(_module, _inputs, output) -> None:
        nonlocal total
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        total += sum(o.numel() for o in outputs if isinstance(o, torch.Tensor))

    hooks = [m.register_forward_hook(add) for m in module.modules() if next(m.children(), None) is None]
    try:
        with torch.no_grad():
            module(torch.empty(BATCH, *input_shape, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def output_elements(pair: ZooPair) -> int | None:
    """:func:`count_outputs` of ``pair``'s PyTorch model, or None where it cannot run on ``meta``."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            return count_outputs(_torch_model(pair), pair.input_shape) or None
    except Exception:  # e.g. a builder or forward that calls .item(): sized by its parameters instead
        return None


def _torch_model(pair: ZooPair):
    """The PyTorch side of :func:`~parity.zoo.sources.build` alone (the Gluon side would cost real memory)."""
    if pair.source == "gluoncv:torchvision":
        from modern_cnns.torch_impl.torchvision_compat import torchvision_models

        return getattr(torchvision_models(), pair.torch_name)(num_classes=10, **dict(pair.torch_kwargs))
    from modern_cnns.parity.zoo.sources import _pytorchcv

    return _pytorchcv().get_model(pair.torch_name, **dict(pair.torch_kwargs))
