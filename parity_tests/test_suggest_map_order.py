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


def test_a_hybridized_block_whose_layers_do_not_run_on_their_own_keeps_registration_order():
    """Once a hybridized block has cached its graph, no layer inside starts on its own: nothing is known of their
    order, nothing is moved.  (Its first call traces the graph through every layer, in order, like a plain call.)"""
    from mxnet import nd

    from modern_cnns.parity.verdict.ports import suggest_map

    block, module = _crosswise_pair()
    block.initialize()
    block.hybridize()
    block(nd.zeros((1, 8)))
    proposal = suggest_map(block, module, (8,))
    assert proposal["reordered"] == []
    assert proposal["map"]["a.weight"] == "first.weight"  # registration order: the crosswise pairing


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
