"""Aligning two trees' layers: most pairs of equal kind, then of equal shape (no framework needed)."""
from __future__ import annotations

from modern_cnns.parity.verdict.structure import Layer, align, differences


def _attention_net(torch_side: bool, identity_at=None):
    """Three stages of three residual units, each followed by an attention unit; torch runs the attention's
    pooling as a module, Gluon functionally (as gluoncv2's and pytorchcv's DIA-ResNets do).  ``identity_at``:
    (stage, unit) whose second ReLU the torch side replaced by an Identity."""
    layers = [Layer("init", "conv", out_shape=(2, 16, 32, 32))]
    for stage, (channels, size) in enumerate([(16, 32), (32, 16), (64, 8)]):
        for unit in range(3):
            shape = (2, channels, size, size)
            name = f"s{stage}.u{unit}"
            second = "identity" if torch_side and identity_at == (stage, unit) else "activation"
            layers += [Layer(f"{name}.bn1", "batchnorm", out_shape=shape), Layer(f"{name}.relu1", "activation",
                       out_shape=shape), Layer(f"{name}.conv1", "conv", out_shape=shape),
                       Layer(f"{name}.bn2", "batchnorm", out_shape=shape), Layer(f"{name}.relu2", second,
                       out_shape=shape), Layer(f"{name}.conv2", "conv", out_shape=shape)]
            if torch_side:
                layers.append(Layer(f"{name}.att.pool", "pool", out_shape=(2, channels, 1, 1)))
            layers += [Layer(f"{name}.att.fc1", "dense", out_shape=(2, channels // 4)),
                       Layer(f"{name}.att.relu", "activation", out_shape=(2, channels // 4)),
                       Layer(f"{name}.att.fc2", "dense", out_shape=(2, channels)),
                       Layer(f"{name}.att.drop", "dropout", out_shape=(2, channels))]
    return layers + [Layer("pool", "pool", out_shape=(2, 64, 1, 1)), Layer("output", "dense", out_shape=(2, 10))]


def test_one_missing_relu_in_repeated_units_is_one_difference_at_its_own_unit():
    """A greedy longest-runs alignment paired stage 1's attention units with stage 2's here, and the one
    missing ReLU read as dozens of missing and extra layers."""
    g, t = _attention_net(False), _attention_net(True, identity_at=(1, 0))
    pairs = align(g, t)
    assert all(gl.name == tl.name for gl, tl in pairs if gl is not None and tl is not None), \
        [(gl and gl.name, tl and tl.name) for gl, tl in pairs if gl and tl and gl.name != tl.name][:5]
    found = {d.name: [tl.name if tl else gl.name for gl, tl in d.layers] for d in differences(pairs)}
    assert found == {"missing-layer": ["s1.u0.relu2"], "extra-layer": [f"s{s}.u{u}.att.pool" for s in range(3)
                                                                       for u in range(3)]}, found


def test_a_torch_pass_that_ends_early_pairs_its_layers_from_the_start():
    """A torch forward that fails in a layer ends the list there: its layers pair with the original's first ones,
    not with the same kinds further on."""
    g = _attention_net(False)
    t = [layer for layer in _attention_net(False)][:20]
    pairs = align(g, t)
    assert [(gl.name, tl.name) for gl, tl in pairs if gl is not None and tl is not None] == \
        [(layer.name, layer.name) for layer in t]


def test_equal_trees_pair_one_to_one_and_empty_trees_pair_nothing():
    g = _attention_net(False)
    assert [(gl.name, tl.name) for gl, tl in align(g, g)] == [(layer.name, layer.name) for layer in g]
    assert align(g, []) == [(layer, None) for layer in g] and align([], g) == [(None, layer) for layer in g]
