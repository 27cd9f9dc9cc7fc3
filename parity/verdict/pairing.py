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


def missing_layer(block, module) -> tuple | None:
    """``(torch module, gluon block, text)`` when a positional pairing parts because the port holds a layer
    without parameters where the original's has some (an SE gate left out as an ``Identity``); else None.

    Tensors pair in registration order until the first whose shapes differ; a parameter-free torch module
    registered between the last paired tensor's module and the next one, whose own name is the name of
    the mismatching Gluon tensor's block or of one of its parents, is where the port lacks the layer (every
    later tensor is paired with the wrong one: the refusal lists dozens).
    """
    from modern_cnns.parity.weights.state import gluon_slots, torch_slots

    def squeezed(shape):
        return tuple(d for d in shape if d != 1)

    g, (t, _) = list(gluon_slots(block).items()), torch_slots(module)
    t = list(t.items())
    i = next((k for k, ((_, gs), (_, ts)) in enumerate(zip(g, t)) if squeezed(gs.shape) != squeezed(ts.shape)), None)
    if i is None or i == 0:
        return None
    gname = g[i][0].rsplit(".", 1)[0]
    before, after = t[i - 1][0].rsplit(".", 1)[0], t[i][0].rsplit(".", 1)[0]
    order = [name for name, _ in module.named_modules()]
    if before not in order or after not in order:
        return None
    parents = gname.split(".")
    for name in order[order.index(before) + 1:order.index(after)]:
        mod = module.get_submodule(name)
        last = name.rsplit(".", 1)[-1]
        if next(mod.parameters(), None) is None and last in parents:
            glayer = ".".join(parents[:len(parents) - parents[::-1].index(last)])
            held = [n for n, _ in g if n.startswith(glayer + ".")]
            text = (f"layer {name} (gluon {glayer}): missing layer: the port's {name} ({type(mod).__name__}) holds "
                    f"no parameters where the original's {glayer} holds {len(held)} ({', '.join(held[:3])}"
                    f"{', ...' if len(held) > 3 else ''}); the positional transfer then pairs every later tensor "
                    "with the wrong one")
            return name, glayer, text
    return None
