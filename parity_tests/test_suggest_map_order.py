"""The automatic map pairs same-shape layers by the order they run, not the order ``__init__`` registered them."""
from __future__ import annotations

import pytest

from parity_tests.conftest import needs_both

pytestmark = needs_both


def _crosswise_pair():
    """A Gluon block that registers ``a`` then ``b`` but runs ``b`` first; a torch port registered as it runs.

    Both layers are 8x8 Dense layers, so shapes alone cannot tell them apart: registration order pairs
    ``a`` with ``first`` (crosswise), and the port, correct as written, then computes something else.
    """
    import torch
    from mxnet.gluon import nn as gnn

    class Gluon(gnn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.a = gnn.Dense(8, in_units=8)
            self.b = gnn.Dense(8, in_units=8)

        def hybrid_forward(self, F, x):
            return self.a(F.relu(self.b(x)))

    class Torch(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.first = torch.nn.Linear(8, 8)
            self.second = torch.nn.Linear(8, 8)

        def forward(self, x):
            return self.second(torch.relu(self.first(x)))

    return Gluon(), Torch()


def test_same_shape_layers_registered_in_another_order_than_they_run_are_paired_as_they_run():
    from modern_cnns.parity import check_pair
    from modern_cnns.parity.verdict.ports import suggest_map

    block, module = _crosswise_pair()
    proposal = suggest_map(block, module, (8,))
    assert proposal["map"] == {"b.weight": "first.weight", "b.bias": "first.bias",
                               "a.weight": "second.weight", "a.bias": "second.bias"}, proposal
    assert proposal["reordered"] == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert not proposal["ambiguous"] and not proposal["unpaired_gluon"] and not proposal["unpaired_torch"]
    results = check_pair(block, module, (8,), dtypes=("float64",), name_map=proposal["map"])
    assert all(r.passed for r in results), [r.summary() for r in results]


def test_a_hybridized_block_is_run_layer_by_layer_for_its_order_and_paired_as_it_runs():
    """Once a hybridized block has cached its graph, no layer inside starts on its own: the order is read from a
    pass run layer by layer, and the block is given back hybridized (a crosswise map passed as unambiguous, before).
    """
    from mxnet import nd

    from modern_cnns.parity.verdict.ports import suggest_map

    block, module = _crosswise_pair()
    block.initialize()
    block.hybridize()
    block(nd.zeros((1, 8)))
    proposal = suggest_map(block, module, (8,))
    assert proposal["map"]["b.weight"] == "first.weight" and proposal["reordered"], proposal
    assert block._active and block._cached_op is not None  # still hybridized, its graph kept


def test_hybridized_layers_are_localised_like_plain_ones():
    """A hybridized Gluon block's layers are captured one by one (Symbols reached the hooks before: no localisation,
    no diagnosis, an empty --layers table)."""
    from modern_cnns.parity import check_pair
    from parity_tests.port_builders import tiny_gluon, tiny_torch

    block, module = tiny_gluon(), tiny_torch()
    block.hybridize()
    module[1].epsilon = 1e-3  # the BatchNorm's eps, as a careless port sets it
    result, = check_pair(block, module, (1, 8, 8), dtypes=("float64",))
    assert not result.passed
    assert (result.first_divergence or "").startswith("layer 1 (gluon 1)"), result.first_divergence
    assert result.diagnosis and "eps" in result.diagnosis[0], result.diagnosis


@pytest.mark.parametrize("order", ["registered", "run"])
def test_layers_registered_as_they_run_are_paired_the_same_either_way(order):
    import torch
    from mxnet import nd
    from mxnet.gluon import nn as gnn

    from modern_cnns.parity.verdict.ports import suggest_map

    block = gnn.HybridSequential()
    block.add(gnn.Dense(8, in_units=8), gnn.Dense(8, in_units=8))
    module = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 8))
    if order == "registered":  # a cached graph: its layers' order is unknown, registration order decides
        block.initialize()
        block.hybridize()
        block(nd.zeros((1, 8)))
    proposal = suggest_map(block, module, (8,))
    assert proposal["map"] == {"0.weight": "0.weight", "0.bias": "0.bias", "1.weight": "1.weight", "1.bias": "1.bias"}
    assert proposal["reordered"] == []
