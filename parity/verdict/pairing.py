"""Can the two trees be paired as given?  Decided before any check runs, and refused in a few lines.

A cross-zoo pair almost always names its tensors differently.  The transfer would list every
tensor (hundreds of lines) after the models were built in every dtype; this says the same in a
few lines, from names alone, before any forward pass: the counts, the first few names on each
side, and the fix (``--map auto``, a map from ``suggest-map``, or ``--positional``).
"""
from __future__ import annotations

#: how many names of each side a refusal shows
SHOWN = 3


def name_mismatch(gluon_names, torch_names, name_map=None, zero_frozen=()) -> str | None:
    """A short refusal when by-name pairing leaves tensors unpaired on *both* sides; None otherwise.

    One side alone unpaired (a conv bias the port dropped) is not a naming problem: the transfer
    names that tensor itself.
    """
    from modern_cnns.parity.weights.transfer import _pair

    torch_open = {name: None for name in torch_names if name not in set(zero_frozen)}
    _, unexpected, missing = _pair({name: None for name in gluon_names}, torch_open, name_map, False)
    if not unexpected or not missing:
        return None

    def first(names):
        more = f", ... ({len(names) - SHOWN} more)" if len(names) > SHOWN else ""
        return ", ".join(names[:SHOWN]) + more

    return (f"the two models name their tensors differently, nothing was checked: {len(unexpected)} of "
            f"{len(gluon_names)} Gluon tensors have no torch tensor of that name ({first(unexpected)}), and "
            f"{len(missing)} of {len(torch_open)} torch tensors none in Gluon ({first(missing)}). Pair them with "
            "--map auto (suggest-map's map, when it is unambiguous), --map FILE.json, or --positional.")
