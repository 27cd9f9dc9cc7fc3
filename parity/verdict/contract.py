"""What the public API accepts, checked before any work: each bad argument a ``ContractError`` naming the valid values.

:func:`~parity.verdict.ports.check_pair`, :func:`~parity.verdict.check.check_network`,
:func:`~parity.verdict.ports.suggest_map` and the command line call these first, so that a
careless argument is an error, never a quiet wrong answer: ``dtypes=("float16",)`` used to
return ``[]``, which ``all(r.passed for r in results)`` reads as a PASS; ``input_shape="322"``
was read as ``(3, 2, 2)``; ``device="tpu"`` ran on the CPU.

Restoring the models a check borrowed is :mod:`parity.verdict.snapshot`.
"""
from __future__ import annotations

import math
import numbers

#: the dtypes the checker compares in (float32 is judged against float64, which then runs too)
DTYPES = ("float32", "float64")
DEVICES = ("cpu", "gpu")
#: a sample's dimensions: (features,), (C, L), (C, H, W), (C, D, H, W)
MAX_SAMPLE_DIMS = 4
#: the largest seed every generator takes (MXNet's and numpy's)
MAX_SEED = 2**32 - 1
#: more steps than a parity check needs (10 already shows float32 drift); the batches are drawn up front
MAX_STEPS = 1000


class ContractError(ValueError):
    """An argument outside what the API accepts; the message names the valid values."""


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_dtypes(dtypes) -> tuple:
    """A non-empty tuple of ``"float32"``/``"float64"``, in the order given, each once."""
    if isinstance(dtypes, str) or not hasattr(dtypes, "__iter__"):
        raise ContractError(f"dtypes must be a tuple of dtype names from {DTYPES}, e.g. ('float64',); "
                            f"got {dtypes!r} (a {type(dtypes).__name__})")
    dtypes = tuple(dtypes)
    bad = [d for d in dtypes if not isinstance(d, str) or d not in DTYPES]
    if bad or not dtypes:
        raise ContractError(f"dtypes must name one or both of {DTYPES}; got {dtypes!r}"
                            + (" (nothing would be checked)" if not dtypes else ""))
    return tuple(dict.fromkeys(dtypes))


def check_input_shape(shape, what="input_shape") -> tuple:
    """One sample's shape: a tuple (or list) of 1 to 4 positive integers, e.g. ``(3, 224, 224)``."""
    hint = f"{what} must be one sample's shape, a tuple of 1 to {MAX_SAMPLE_DIMS} positive integers, e.g. (3, 224, 224)"
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list)):
        raise ContractError(f"{hint}; got {shape!r} (a {type(shape).__name__})")
    if not 1 <= len(shape) <= MAX_SAMPLE_DIMS or not all(_is_int(d) and d > 0 for d in shape):
        raise ContractError(f"{hint}; got {tuple(shape)!r}")
    return tuple(int(d) for d in shape)


def check_device(device) -> str:
    if device not in DEVICES:
        raise ContractError(f"device must be one of {DEVICES}; got {device!r}")
    return device


def check_count(name, value, low=1, high=None) -> int:
    """An integer in [low, high]: ``batch_size``, ``steps``, ``seed``."""
    upper = f" and at most {high}" if high is not None else ""
    if not _is_int(value) or value < low or (high is not None and value > high):
        raise ContractError(f"{name} must be an integer >= {low}{upper}; got {value!r}")
    return int(value)


def check_input_sizes(sizes, sample_shape) -> tuple:
    """Further spatial sizes: positive integers, for a sample with at least two (spatial) dimensions."""
    if sizes is None:
        return ()
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise ContractError(f"input_sizes must be a list of positive integers, e.g. [240, 256]; got {sizes!r}")
    sizes = tuple(sizes)
    if not all(_is_int(s) and s > 0 for s in sizes):
        raise ContractError(f"input_sizes must be positive integers, e.g. [240, 256]; got {sizes!r}")
    if sizes and len(sample_shape) < 2:
        raise ContractError(f"input_sizes need a sample with spatial dimensions; input_shape is {sample_shape}")
    return tuple(int(s) for s in sizes)


def mxnet_max_elements() -> int | None:
    """The most elements one MXNet tensor may hold here (None: no limit but memory).

    MXNet 1.9.1 as pip ships it is built without ``USE_INT64_TENSOR_SIZE``: a tensor of 2^31 - 1
    elements or more is refused (``Size of tensor you are trying to allocate is larger than 2^31
    elements``), deep inside a forward pass.
    """
    from modern_cnns.parity.frameworks import available

    if not available("gluon"):
        return None
    import mxnet as mx

    return None if mx.runtime.Features().is_enabled("INT64_TENSOR_SIZE") else 2**31 - 2


def check_indexable(batch_size: int, sample_shape, what="the input batch") -> None:
    """Refuse a batch MXNet cannot index, before any work (the error would come from deep inside)."""
    limit = mxnet_max_elements()
    elements = batch_size * math.prod(sample_shape)
    if limit is not None and elements > limit:
        shape = "x".join(map(str, (batch_size, *sample_shape)))
        raise ContractError(f"{what} {shape} has {elements:,} elements; MXNet (built without "
                            f"USE_INT64_TENSOR_SIZE) indexes at most {limit:,}: use a smaller batch size or input")


def check_batches_fit(steps: int, batch_size: int, sample_shape) -> None:
    """The check draws its ``steps`` batches up front, in float64: refuse what cannot fit in memory now.

    Each batch is written as it is drawn, so a size that does not fit is not a quick numpy
    ``MemoryError``: it fills the memory until the system's out-of-memory killer ends some process.
    """
    from modern_cnns.parity.verdict.memory import NotEnoughMemory
    from modern_cnns.parity.verdict.sweep import available_gb

    need = steps * batch_size * math.prod(sample_shape) * 8 / 1e9
    have = available_gb()
    if need > have / 2:  # the models, activations and gradients need at least as much again
        raise NotEnoughMemory(f"{steps} batches of {'x'.join(map(str, (batch_size, *sample_shape)))} float64 inputs "
                              f"need {need:.3g} GB before any model runs; {have:.3g} GB is available")


def check_arguments(*, dtypes, device, steps, batch_size, seed, sample_shape=None, input_sizes=None) -> dict:
    """Every argument of a check at once; the validated values, by name."""
    steps = check_count("steps", steps, 1, MAX_STEPS)
    out = {"dtypes": check_dtypes(dtypes), "device": check_device(device), "steps": steps,
           "seed": check_count("seed", seed, 0, MAX_SEED)}
    if batch_size is not None:
        out["batch_size"] = check_count("batch_size", batch_size)
    if sample_shape is not None:
        out["input_sizes"] = sizes = check_input_sizes(input_sizes, sample_shape)
        if batch_size is not None:
            check_indexable(batch_size, sample_shape)
            check_batches_fit(steps, batch_size, sample_shape)
            for s in sizes:  # the extra sizes run at batch 2 (check._predict_at)
                check_indexable(2, (*sample_shape[:-2], s, s), f"the input at size {s}")
    return out


# --------------------------------------------------------------------------- BatchNorm and batch size 1
def has_batchnorm(*models) -> bool:
    """Does any of the models (Gluon blocks, torch modules) hold a BatchNorm layer, built in or scratch?"""
    from modern_cnns.parity.weights.state import walk_gluon

    for model in models:
        children = model.modules() if hasattr(model, "modules") else (b for _, b in walk_gluon(model))
        # by every class it derives from: a user's ``class Norm(nn.BatchNorm1d)`` is one too
        if any("BatchNorm" in cls.__name__ for child in children for cls in type(child).__mro__):
            return True
    return False


def refuse_single_example(batch_size, *models) -> None:
    """Batch size 1 with BatchNorm is a usage error, not a parity verdict.

    BatchNorm normalises over the batch: with one example, a dense layer's BatchNorm sees a
    variance of zero (torch's own ``BatchNorm1d`` refuses to train on it; Gluon divides by
    sqrt(eps)), so the training checks would compare degenerate statistics and a correct port
    FAILs.
    """
    if batch_size == 1 and has_batchnorm(*models):
        raise ContractError("batch size 1: the model has BatchNorm, which normalises over the batch; with one "
                            "example its statistics are degenerate (zero variance). Use a batch size of 2 or more")


#: torch's refusal to train a BatchNorm on one value per channel (a batch of one; F.batch_norm, which
#: :func:`has_batchnorm` cannot see, raises it too)
_TORCH_ONE_VALUE = "Expected more than 1 value per channel when training"


def reraise_if_single_example(err: BaseException) -> None:
    """Raise ``err`` as a :class:`ContractError` (exit 2, one line) when it is torch's refusal of a one-example
    BatchNorm batch: the input's fault, not the port's, so no FAIL with a torch message."""
    if isinstance(err, ValueError) and _TORCH_ONE_VALUE in str(err):
        raise ContractError("batch size 1: the port normalises over the batch in training mode (a BatchNorm, or "
                            "torch's batch_norm in its forward), which torch refuses on one example "
                            f"(\"{_TORCH_ONE_VALUE}\"); use a batch size of 2 or more") from None


# --------------------------------------------------------------------------- the two models
def describe(value) -> str:
    """What a builder returned, in words: ``None``, ``the class Net``, ``a str 'x'``, ``a torch.nn.Module (Net)``."""
    if value is None:
        return "None"
    if isinstance(value, type):
        return f"the class {value.__module__}.{value.__qualname__} (not an instance: call it)"
    kind = framework_of(value)
    if kind is not None:
        return f"a {'Gluon Block' if kind == 'gluon' else 'torch.nn.Module'} ({type(value).__name__})"
    text = repr(value)
    return f"a {type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def framework_of(value) -> str | None:
    """``"gluon"`` for a Gluon Block, ``"torch"`` for a torch Module, else None (without importing either)."""
    import sys

    mx, torch = sys.modules.get("mxnet"), sys.modules.get("torch")
    if mx is not None and isinstance(value, mx.gluon.Block):
        return "gluon"
    if torch is not None and isinstance(value, torch.nn.Module):
        return "torch"
    return None


EXPECTED = {"gluon": "a Gluon model (an instance of mxnet.gluon.Block, e.g. nn.HybridSequential())",
            "torch": "a PyTorch model (an instance of torch.nn.Module)"}


def check_model(value, framework: str, what: str, verb: str = "is") -> None:
    """``value`` must be a model of ``framework`` ("gluon"/"torch") holding parameters.

    ``what`` and ``verb`` word the error: "gluon_block is None", "--gluon m:f returned None".
    """
    kind = framework_of(value)
    if kind != framework:
        swapped = " (are the two swapped?)" if kind is not None else ""
        raise ContractError(f"{what} {verb} {describe(value)}; expected {EXPECTED[framework]}{swapped}")
    params = value.collect_params().values() if kind == "gluon" else value.parameters()
    if next(iter(params), None) is None:
        raise ContractError(f"{what} {verb} {describe(value)} with no parameters: there is nothing to compare "
                            "or move")


def check_models(gluon_block, torch_module, names=("gluon_block", "torch_module")) -> None:
    check_model(gluon_block, "gluon", names[0])
    check_model(torch_module, "torch", names[1])


def materialise_lazy(module, sample_shape) -> None:
    """Give a torch port's Lazy modules (``nn.LazyLinear``...) their shapes, as ``convert`` does.

    One forward pass of a zero sample, in eval mode without gradients (no statistic moves):
    :func:`~parity.weights.state.finish_torch_shapes`.  The materialised module is what the
    user gets back: a Lazy module cannot be un-materialised.
    """
    from modern_cnns.parity.weights.state import finish_torch_shapes

    try:
        finish_torch_shapes(module, (1, *sample_shape))
    except Exception as err:
        from modern_cnns.parity.verdict.memory import reraise_if_memory

        reraise_if_memory(err)
        raise ContractError(f"the torch model holds Lazy modules and cannot run one sample of shape "
                            f"{sample_shape} to materialise them: {type(err).__name__}: {err}") from None


def check_network_arguments(entry, *, device, dtypes, steps, batch_size, seed) -> None:
    """:func:`check_arguments` for a registry network: its input, and batch size 1 against its BatchNorm."""
    from modern_cnns.parity.verdict.policy import settings_for

    batch_size = batch_size if batch_size is not None else settings_for(entry.name).batch_size
    check_arguments(dtypes=dtypes, device=device, steps=steps, batch_size=batch_size, seed=seed,
                    sample_shape=tuple(entry.input_shape))
    if batch_size == 1:
        refuse_single_example(batch_size, entry.build_gluon())  # un-initialised: nothing allocated


def check_experiment_batch(exp, batch_size) -> None:
    """A training run's batch (at most the training set: a larger one is one batch of it) that MXNet can index."""
    from modern_cnns.data import FILES

    examples = FILES["train_images"].shape[0]
    side = exp.resize or 28
    check_indexable(min(batch_size or exp.batch_size, examples), (1, side, side), f"a batch of {exp.name}")
