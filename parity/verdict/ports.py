"""Verify your own port: :func:`check_pair` for any Gluon block and any torch module.

The registry's networks are checked by :func:`~parity.verdict.check.check_network`; this is the
same checker for a pair this project has never seen.  The two models are used in place: the
checker casts them to each dtype, resets them to their starting weights before every run, zeroes
dropout while it trains them, and gives them back as it found them (weights, dtype, dropout).
"""
from __future__ import annotations

import importlib
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from modern_cnns.parity.verdict import known
from modern_cnns.parity.verdict.check import Result, Subject, run_checks
from modern_cnns.parity.verdict.pair import Pair
from modern_cnns.parity.weights.transfer import load_name_map

if TYPE_CHECKING:
    import torch


class PortError(ValueError):
    """A pair that cannot be checked as given (a model that cannot be loaded or run); says what to fix."""


class _UserPair:
    """Rebuilds one user pair in any dtype from the same starting weights."""

    def __init__(self, block, module, name_map, positional, device, zero_frozen=()):
        from modern_cnns.parity.frameworks import gluon_ctx
        from modern_cnns.parity.weights.state import gluon_slots

        self.block, self.module, self.device = block, module, device
        self.name_map, self.positional, self.zero_frozen = name_map, positional, tuple(zero_frozen)
        if device == "gpu":
            block.collect_params().reset_ctx(gluon_ctx(device))
        self.slots = {name: slot.read() for name, slot in gluon_slots(block).items()}
        self.gluon_rates, self.torch_rates = self._rates()

    @staticmethod
    def ready_gluon(block, sample_shape, seed, device) -> None:
        """Initialise an un-initialised block (Xavier, seeded, as the course does); finish deferred shapes."""
        import mxnet as mx

        from modern_cnns.parity.frameworks import gluon_ctx
        from modern_cnns.parity.verdict.memory import reraise_if_memory
        from modern_cnns.parity.weights.init import initialize_gluon
        from modern_cnns.parity.weights.state import finish_gluon_shapes, gluon_uninitialized

        never, deferred = gluon_uninitialized(block)
        try:
            if never:
                mx.random.seed(seed)
                initialize_gluon(block, (1, *sample_shape), ctx=gluon_ctx(device))
            elif deferred:
                finish_gluon_shapes(block, (1, *sample_shape))
        except Exception as err:
            reraise_if_memory(err)
            raise PortError(f"the Gluon model cannot run one sample of shape {sample_shape}: "
                            f"{_first_line(err)}") from None

    def _rates(self):
        from mxnet.gluon import nn as gnn
        from torch import nn as tnn

        from modern_cnns.parity.weights.state import walk_gluon

        g = [(blk, blk._rate) for _, blk in walk_gluon(self.block) if isinstance(blk, gnn.Dropout)]
        t = [(mod, mod.p) for mod in self.module.modules() if isinstance(mod, tnn.Dropout)]
        return g, t

    def gluon(self, dtype: str, dropout: bool = False):
        from modern_cnns.parity.weights.state import gluon_slots

        self.block.cast(dtype)
        for name, slot in gluon_slots(self.block).items():
            slot.write(self.slots[name].astype(dtype))
        for blk, rate in self.gluon_rates:
            blk._rate = rate if dropout else 0.0
        return self.block

    def pair(self, dtype: str, dropout: bool = False) -> Pair:
        import torch

        from modern_cnns.parity.frameworks import torch_device
        from modern_cnns.parity.weights.transfer import gluon_to_torch

        block = self.gluon(dtype, dropout)
        self.module.to(device=torch_device(self.device), dtype=getattr(torch, dtype))
        report = gluon_to_torch(block, self.module, name_map=self.name_map, positional=self.positional,
                                zero_frozen=self.zero_frozen)
        for mod, p in self.torch_rates:
            mod.p = p if dropout else 0.0
        return Pair(block, self.module, {g: t for g, t, _ in report.mapped}, dtype, self.device)

    def models(self, dtype: str) -> tuple[Any, torch.nn.Module]:
        """(block, module) in ``dtype``, the port as given (no transfer): for reading a refused pair's structure."""
        import torch

        from modern_cnns.parity.frameworks import torch_device

        return self.gluon(dtype, dropout=True), self.module.to(device=torch_device(self.device),
                                                               dtype=getattr(torch, dtype))


def check_pair(gluon_block, torch_module, input_shape, *, name_map=None, positional: bool = False,
               dtypes=("float32", "float64"), steps: int = 2, batch_size: int = 2, seed: int = 0,
               input_sizes=None, device: str = "cpu", name: str | None = None, zero_frozen=(),
               accept=(), inputs=None, gluon_params=None) -> list[Result]:
    """Check that ``torch_module`` computes what ``gluon_block`` computes; one :class:`Result` per dtype.

    The Gluon block's weights are moved to the torch module (by name, through ``name_map``, or in
    registration order), then both get the same inputs: prediction and training outputs, the
    input gradient and every parameter gradient, the BatchNorm statistics after one SGD step,
    and every parameter and statistic after ``steps`` steps are compared, tensor by tensor, under
    the policy of :mod:`parity.verdict.tolerance`.

    Args:
        gluon_block: the original.  If it is not initialised yet it is initialised here
            (``init.Xavier()``, MXNet seeded with ``seed``).
        torch_module: the port.
        input_shape: one sample's shape, e.g. ``(3, 224, 224)``.
        name_map: ``{gluon name: torch name}``, a function of the Gluon name, or the path of a
            JSON file holding the dict, where the trees' names differ.  Names it leaves out are
            paired by name, with gamma/beta <-> weight/bias.
        positional: pair tensors in registration order instead (shapes still checked).
        dtypes: the dtypes to report; float32 is judged against float64, which then runs too.
        steps: SGD steps both frameworks take.
        batch_size: samples per batch (2 or more where the model has BatchNorm).
        seed: draws the inputs, and the weights of an un-initialised block.
        input_sizes: further spatial sizes (e.g. ``[240, 256]``) at which the prediction outputs
            are compared too: a pooling layer that depends on the input size shows there.
        device: ``"cpu"`` or ``"gpu"``.
        name: how reports name the pair (default: the two classes' names).
        zero_frozen: torch parameters with no Gluon counterpart, declared zero and frozen (see
            :func:`~parity.weights.transfer.gluon_to_torch`).
        accept: names of known differences (:func:`parity.verdict.known.valid_names`: a framework kernel's
            rounding, a convention such as ``unbiased-running-var``, a structural difference such as
            ``dropout-rate``) reported as a KNOWN DIFFERENCE instead of failing; anything else still fails.
        inputs: a numpy array ``(N, *input_shape)``: the batch of every check instead of the seeded draws
            (labels are drawn from ``seed``); ``batch_size`` is then N (:mod:`parity.verdict.supplied`).
        gluon_params: a ``.params`` file of the Gluon model's trained weights (``load_parameters``), the
            starting weights of the check instead of the block's own; the block comes back with its own.

    Returns:
        ``[Result]`` in the order of ``dtypes``: ``.passed``, ``.rows`` (``.check``, a
        :class:`~parity.verdict.checks.Check` whose ``str`` is the name the reports print, ``.max_rel``,
        ``.passed``, ...), ``.first_divergence`` (the first torch layer whose output differs) and
        ``.diagnosis`` (plain-language findings: BatchNorm conventions, eps, dropout, sizes).
    """
    from modern_cnns.parity.verdict import contract, supplied
    from modern_cnns.parity.verdict.snapshot import ModelSnapshot

    sample_shape = contract.check_input_shape(input_shape)
    if inputs is not None:
        inputs = supplied.check_inputs(inputs, sample_shape)
        batch_size = len(inputs)
    if gluon_params is not None:
        supplied.check_params_file(gluon_params)
    contract.check_count("batch_size", batch_size)  # None means "the registry's choice" in check_network only
    valid = contract.check_arguments(dtypes=dtypes, device=device, steps=steps, batch_size=batch_size, seed=seed,
                                     sample_shape=sample_shape, input_sizes=input_sizes)
    contract.check_models(gluon_block, torch_module)
    contract.refuse_single_example(batch_size, gluon_block, torch_module)
    if positional and name_map is not None:
        raise PortError("name_map with positional=True: positional pairing goes by registration order and would "
                        "ignore the map; give one of them")
    if isinstance(name_map, (str, Path)):
        name_map = load_name_map(name_map)
    try:
        accept = known.check_names(accept)
    except ValueError as err:
        raise PortError(str(err)) from None
    _check_zero_frozen(torch_module, zero_frozen, name_map)
    if not positional:  # decided from the names alone, before any weight is made, copied or run
        refusal = _name_mismatch(gluon_block, torch_module, name_map, zero_frozen)
        if refusal:
            raise PortError(refusal)
    contract.materialise_lazy(torch_module, sample_shape)
    _UserPair.ready_gluon(gluon_block, sample_shape, seed, device)  # what has no weights yet gets them here
    snapshot = ModelSnapshot(gluon_block, torch_module)  # both come back as they came, whatever happens
    hooks = []
    try:
        if gluon_params is not None:  # after the snapshot: the block comes back with its own weights
            supplied.load_gluon_params(gluon_block, gluon_params, device)
        user = _UserPair(gluon_block, torch_module, name_map, positional, device, zero_frozen)
        # an accepted kernel difference: the port rounds as the original's kernel does, for the check only
        hooks = [h for n in accept if n in known.FRAMEWORK_DIFFERENCES
                 for h in known.FRAMEWORK_DIFFERENCES[n].emulate(torch_module)]
        num_classes = _output_width(user, sample_shape)
        extra = tuple((*sample_shape[:-2], s, s) for s in valid["input_sizes"] if s != sample_shape[-1])
        _refuse_sizes_neither_runs(user, extra)
        subject = Subject(name or f"{type(gluon_block).__name__} -> {type(torch_module).__name__}", sample_shape,
                          num_classes, user.pair, user.gluon, extra, accept, user.models)
        return run_checks(subject, device, valid["dtypes"], steps, batch_size, seed, inputs)
    finally:
        for h in hooks:
            h.remove()
        snapshot.restore()


def _check_zero_frozen(torch_module, zero_frozen, name_map) -> None:
    """``zero_frozen`` names torch tensors with no source: one that the port does not have, or that the map
    already gives a source, is a usage mistake (refused here), not a transfer failure of the port."""
    from modern_cnns.parity.weights.state import torch_names

    names = set(torch_names(torch_module))
    unknown = [n for n in zero_frozen if n not in names]
    if unknown:
        raise PortError(f"zero_frozen names {', '.join(unknown)}: the torch model has no such tensor "
                        f"(its tensors: {', '.join(list(names)[:3])}, ...)")
    mapped = set((name_map or {}).values()) & set(zero_frozen) if isinstance(name_map, dict) else set()
    if mapped:
        raise PortError(f"zero_frozen names {', '.join(sorted(mapped))}, which the map gives a source: a tensor is "
                        "either copied or zeroed and frozen, not both")


def _name_mismatch(gluon_block, torch_module, name_map, zero_frozen) -> str | None:
    """The refusal of a pair whose tensor names differ, read from the names alone: no initialisation, no
    forward pass, no copy (a cross-zoo VGG-13 pair used to be initialised and snapshotted first)."""
    from modern_cnns.parity.verdict.pairing import name_mismatch
    from modern_cnns.parity.weights.state import gluon_names, torch_names

    return name_mismatch(gluon_names(gluon_block), torch_names(torch_module), name_map, zero_frozen)


def _output_width(user: _UserPair, sample_shape) -> int:
    from mxnet import nd

    from modern_cnns.parity.frameworks import gluon_ctx
    from modern_cnns.parity.verdict.memory import reraise_if_memory
    from modern_cnns.parity.verdict.outputs import first

    block = user.gluon("float32")
    try:
        out = first(block(nd.zeros((1, *sample_shape), ctx=gluon_ctx(user.device))))  # the logits the loss takes
        nd.waitall()
    except Exception as err:  # the input shape is wrong for this model: the user's to fix
        reraise_if_memory(err)
        raise PortError(f"the Gluon model cannot run one sample of shape {sample_shape}: {_first_line(err)}") from None
    if out.ndim != 2:
        raise PortError(f"the Gluon model outputs shape {out.shape}; check_pair needs (batch, classes) logits")
    return int(out.shape[1])


def _refuse_sizes_neither_runs(user: _UserPair, shapes) -> None:
    """An extra input size that *neither* framework can run is a usage error, not a finding.

    A size one framework runs and the other does not is a finding about the port (a layer that
    depends on the input size in one framework only); a size both refuse says nothing about it,
    and reporting it as that finding made a correct port FAIL.
    """
    import torch
    from mxnet import nd

    from modern_cnns.parity.frameworks import gluon_ctx
    from modern_cnns.parity.verdict.contract import ContractError
    from modern_cnns.parity.verdict.memory import reraise_if_memory

    block, module = user.gluon("float32"), user.module
    param = next(module.parameters())
    for shape in shapes:
        failures = []
        try:
            block(nd.zeros((1, *shape), ctx=gluon_ctx(user.device)))
            nd.waitall()  # MXNet raises a shape error when the result is awaited
        except Exception as err:
            reraise_if_memory(err)
            failures.append(f"Gluon: {_first_line(err)}")
        try:
            with torch.no_grad():
                module.eval()(torch.zeros((1, *shape), dtype=param.dtype, device=param.device))
        except Exception as err:
            reraise_if_memory(err)
            failures.append(f"torch: {_first_line(err)}")
        if len(failures) == 2:
            raise ContractError(f"input size {shape[-1]} ({'x'.join(map(str, shape))}): neither framework runs the "
                                f"models at it ({'; '.join(failures)}); leave it out of input_sizes")


def _first_line(err) -> str:
    """``Type: message`` on one line (MXNet's messages are C++ stacks; their last line says what failed)."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last if last.startswith(f"{type(err).__name__}: ") else f"{type(err).__name__}: {last}"


def load_callable(spec: str) -> Callable:
    """``"package.module:callable"`` -> the callable (a class or a builder function)."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise PortError(f"{spec!r}: expected MODULE:CALLABLE, e.g. mypkg.models:resnet18")
    try:
        target = importlib.import_module(module)
    except ImportError as err:
        raise PortError(f"{spec!r}: cannot import {module!r} ({err})") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise PortError(f"{spec!r}: {module!r} has no {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise PortError(f"{spec!r}: {attr!r} is not callable")
    return target


def suggest_map(gluon_block, torch_module, input_shape, seed: int = 0) -> dict:
    """Propose ``{gluon name: torch name}`` from registration order and shapes; flag what is ambiguous.

    Returns ``{"map": {...}, "ambiguous": [...], "unpaired_gluon": [...], "unpaired_torch": [...],
    "reordered": [...]}``.  Tensors are paired in order within each shape (and kind: parameter or
    running statistic).  The order is the order in which each tensor's layer first runs, in one
    forward pass of each tree, where every layer of a repeated shape runs in both trees; else the
    order the layers were registered in.  Registration order is an accident of ``__init__``: two
    same-shape layers registered A, B and run B, A would be paired crosswise (``reordered`` lists
    the Gluon names whose pairing the execution order changed).  An entry is ambiguous when its
    shape occurs more than once and the two trees' counts of that shape disagree.
    """
    from modern_cnns.parity.verdict import contract
    from modern_cnns.parity.weights.state import gluon_slots, torch_slots

    sample_shape = contract.check_input_shape(input_shape)
    contract.check_count("seed", seed, 0, contract.MAX_SEED)
    contract.check_models(gluon_block, torch_module)
    contract.materialise_lazy(torch_module, sample_shape)
    _UserPair.ready_gluon(gluon_block, sample_shape, seed, "cpu")
    gslots = gluon_slots(gluon_block, (1, *sample_shape))
    tslots, _ = torch_slots(torch_module, (1, *sample_shape))

    def key(slot):
        return tuple(int(d) for d in slot.shape if d != 1), slot.kind == "param"  # singleton dims aside

    gorder, torder = _gluon_run_order(gluon_block, sample_shape), _torch_run_order(torch_module, sample_shape)
    ggroups: dict[tuple, list[str]] = {}
    tgroups: dict[tuple, list[str]] = {}
    for groups, slots in ((ggroups, gslots), (tgroups, tslots)):
        for name, slot in slots.items():
            groups.setdefault(key(slot), []).append(name)
    mapping: dict[str, str] = {}
    ambiguous: list[str] = []
    unpaired: list[str] = []
    reordered: list[str] = []
    for shape, gnames in ggroups.items():
        tnames = tgroups.pop(shape, [])
        gran, tran = _by_run_order(gnames, gorder), _by_run_order(tnames, torder)
        if len(gnames) > 1 and gran is not None and tran is not None:
            registered = dict(zip(gnames, tnames))
            reordered += [g for g, t in zip(gran, tran) if registered.get(g) != t]
            gnames, tnames = gran, tran
        elif len(gnames) > 1 and (gran not in (None, gnames) or tran not in (None, tnames)):
            ambiguous += gnames  # one tree's run order unknown, the other's not its registration order
        mapping.update(zip(gnames, tnames))
        unpaired += gnames[len(tnames):]
        tgroups[shape] = tnames[len(gnames):]
        if len(gnames) != len(tnames):
            ambiguous += gnames[:len(tnames)]
    order = {name: i for i, name in enumerate(gslots)}
    left = {t for queue in tgroups.values() for t in queue}
    return {"map": dict(sorted(mapping.items(), key=lambda kv: order[kv[0]])),
            "ambiguous": sorted(ambiguous, key=order.__getitem__),
            "unpaired_gluon": sorted(unpaired, key=order.__getitem__),
            "unpaired_torch": [t for t in tslots if t in left], "reordered": sorted(reordered, key=order.__getitem__)}


def _owner(name: str) -> str:
    """The layer that holds tensor ``name`` (its name less the last part; "" for the root)."""
    return name.rsplit(".", 1)[0] if "." in name else ""


def _by_run_order(names: list[str], run_order: dict[str, int]) -> list[str] | None:
    """``names`` sorted by when their layer first ran (registration order within a layer); None if one never ran."""
    if any(_owner(n) not in run_order for n in names):
        return None
    return sorted(names, key=lambda n: run_order[_owner(n)])  # stable: a layer's tensors keep their order


def _note_start(started: dict, name: str, layer, inputs) -> None:
    """A forward pre-hook: note when layer ``name`` first starts (returns None: a value would replace the inputs)."""
    started.setdefault(name, len(started))


def _gluon_run_order(block, sample_shape) -> dict[str, int]:
    """``{layer name: index}`` of when each Gluon layer first starts, in one predict-mode pass on zeros (a
    hybridized block run layer by layer for it, :func:`~parity.verdict.structure.imperative`)."""
    from mxnet import nd

    from modern_cnns.parity.verdict.structure import imperative
    from modern_cnns.parity.weights.state import walk_gluon

    started: dict[str, int] = {}
    handles = [blk.register_forward_pre_hook(partial(_note_start, started, prefix.rstrip(".")))
               for prefix, blk in walk_gluon(block)]
    param = next(iter(block.collect_params().values()), None)
    try:
        with imperative(block):
            block(nd.zeros((1, *sample_shape), dtype=param.dtype if param is not None else "float32",
                           ctx=param.list_ctx()[0] if param is not None else None))
            nd.waitall()
    except Exception:  # the order is a refinement: a pass that fails here leaves registration order
        return {}
    finally:
        for handle in handles:
            handle.detach()
    return started


def _torch_run_order(module, sample_shape) -> dict[str, int]:
    """``{module name: index}`` of when each torch module first starts, in one eval-mode pass on zeros."""
    import torch

    started: dict[str, int] = {}
    handles = [mod.register_forward_pre_hook(partial(_note_start, started, name))
               for name, mod in module.named_modules()]
    param = next(iter(module.parameters()), None)
    was_training = module.training
    try:
        with torch.no_grad():
            module.eval()(torch.zeros((1, *sample_shape), dtype=param.dtype if param is not None else None,
                                      device=param.device if param is not None else None))
    except Exception:  # as for Gluon: registration order stays
        return {}
    finally:
        module.train(was_training)
        for handle in handles:
            handle.remove()
    return started


__all__ = ["check_pair", "suggest_map", "load_name_map", "load_callable", "PortError"]
