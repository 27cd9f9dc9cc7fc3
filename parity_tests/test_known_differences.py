"""Known framework differences, measured here on the frameworks installed, and ``accept=``.

Each entry of :mod:`parity.verdict.known` states what a kernel computes; these tests measure it,
and check that accepting one turns exactly that difference into a KNOWN DIFFERENCE while any other
difference still fails.
"""
import numpy as np
import pytest

from parity_tests.conftest import needs_both

pytestmark = needs_both


def test_mxnet_leakyrelu_computes_its_negative_side_in_float32_in_float64():
    import mxnet as mx

    x = np.array([-10 / 3, -1.2345678901234567, -7e-3])
    out = mx.nd.LeakyReLU(mx.nd.array(x, dtype="float64"), act_type="leaky", slope=0.1).asnumpy()
    expected = (x.astype(np.float32) * np.float32(0.1)).astype(np.float64)
    assert np.array_equal(out, expected)
    assert not np.array_equal(out, x * 0.1)  # the exact float64 product differs


def test_the_leakyrelu_emulation_matches_mxnet_forward_and_backward():
    import mxnet as mx
    import torch
    from mxnet import autograd
    from torch import nn

    from modern_cnns.parity.verdict.known import FRAMEWORK_DIFFERENCES

    x = np.random.default_rng(0).normal(size=(64,))
    X = mx.nd.array(x, dtype="float64")
    X.attach_grad()
    with autograd.record():
        y = mx.nd.LeakyReLU(X, act_type="leaky", slope=0.1)
    y.backward(mx.nd.array(np.linspace(-2, 2, 64), dtype="float64"))
    module = nn.LeakyReLU(0.1)
    hooks = FRAMEWORK_DIFFERENCES["mxnet-leakyrelu-float32"].emulate(module)
    t = torch.tensor(x, requires_grad=True)
    out = module(t)
    out.backward(torch.tensor(np.linspace(-2, 2, 64)))
    for h in hooks:
        h.remove()
    assert np.array_equal(out.detach().numpy(), y.asnumpy())
    np.testing.assert_allclose(t.grad.numpy(), X.grad.asnumpy(), rtol=1e-15, atol=0)


def test_torch_hardsigmoid_backward_uses_a_float32_sixth_in_float64():
    import torch

    x = torch.tensor([0.0, 1.5], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.hardsigmoid(x).sum().backward()
    assert x.grad.tolist() == [float(np.float32(1 / 6))] * 2
    assert float(np.float32(1 / 6)) != 1 / 6
    y = torch.tensor([0.0, 1.5], dtype=torch.float64, requires_grad=True)
    (torch.clamp(y + 3, 0, 6) / 6).sum().backward()  # the Gluon hard sigmoid written out: exact
    assert y.grad.tolist() == [1 / 6] * 2


def test_mxnet_gelu_in_float64_is_accurate_to_float32_only():
    """Why the corpus checks its GELU pair in float32: no exact emulation, so nothing to accept."""
    import mxnet as mx
    import torch

    x = np.linspace(-4, 4, 1001)
    out = mx.nd.LeakyReLU(mx.nd.array(x, dtype="float64"), act_type="gelu").asnumpy()
    exact = torch.nn.functional.gelu(torch.tensor(x)).numpy()
    assert 1e-9 < np.abs(out - exact).max() < 1e-6


def _leaky_pair(slope=0.1):
    from mxnet.gluon import nn as gnn
    from torch import nn

    block = gnn.HybridSequential()
    block.add(gnn.Conv2D(4, 3, padding=1), gnn.LeakyReLU(0.1), gnn.GlobalAvgPool2D(), gnn.Flatten(), gnn.Dense(3))
    module = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(slope), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                           nn.Linear(4, 3))
    return block, module


def test_a_correct_leakyrelu_port_fails_float64_names_the_kernel_and_passes_once_accepted():
    from modern_cnns.parity import check_pair

    block, module = _leaky_pair()
    result, = check_pair(block, module, (1, 8, 8), dtypes=("float64",))
    assert not result.passed
    assert "mxnet-leakyrelu-float32" in result.diagnosis[0], result.diagnosis
    result, = check_pair(block, module, (1, 8, 8), dtypes=("float64",), accept=("mxnet-leakyrelu-float32",))
    assert result.passed and result.known_difference and "mxnet-leakyrelu-float32" in result.known_difference, \
        ([r.check for r in result.rows if not r.passed], result.diagnosis)


def test_accepting_the_leakyrelu_kernel_does_not_accept_a_wrong_slope():
    from modern_cnns.parity import check_pair

    block, module = _leaky_pair(slope=0.2)
    result, = check_pair(block, module, (1, 8, 8), dtypes=("float64",), accept=("mxnet-leakyrelu-float32",))
    assert not result.passed
    assert result.diagnosis[0].startswith("LeakyReLU slope: torch 0.2, gluon 0.1"), result.diagnosis


def _mini(bug=None):
    from parity_tests import bug_corpus

    pair = bug_corpus.PAIRS["mini"]
    return bug_corpus.build_pair(pair, bug)


def _stock_bn(module):
    from torch import nn

    module[5] = nn.BatchNorm2d(16)
    return module


def test_unbiased_running_var_is_accepted_as_a_convention_and_nothing_else_is():
    from modern_cnns.parity import check_pair

    block, module = _mini()
    result, = check_pair(block, _stock_bn(module), (3, 32, 32), dtypes=("float64",))
    assert not result.passed and "unbiased" in result.diagnosis[0], result.diagnosis
    assert "n=512" in result.diagnosis[0]  # the layer's own batch x positions: 2 x 16 x 16
    result, = check_pair(block, module, (3, 32, 32), dtypes=("float64",), accept=("unbiased-running-var",))
    assert result.passed and "unbiased-running-var" in result.known_difference, result.diagnosis
    module[1].epsilon = 1e-3  # a second, unaccepted difference
    result, = check_pair(block, module, (3, 32, 32), dtypes=("float64",), accept=("unbiased-running-var",))
    assert not result.passed and result.diagnosis[0].startswith("BatchNorm eps"), result.diagnosis


def test_an_accepted_structural_difference_is_reported_and_does_not_fail():
    from modern_cnns.parity import check_pair

    block, module = _mini()
    module[12].p = 0.5
    result, = check_pair(block, module, (3, 32, 32), dtypes=("float64",))
    assert not result.passed and result.diagnosis[0].startswith("dropout rate: torch 0.5, gluon 0.3"), \
        result.diagnosis
    result, = check_pair(block, module, (3, 32, 32), dtypes=("float64",), accept=("dropout-rate",))
    assert result.passed and result.known_difference, result.diagnosis
    assert any(line.startswith("KNOWN DIFFERENCE (accepted dropout-rate)") for line in result.diagnosis)


def test_an_unknown_accept_name_is_a_usage_error():
    from modern_cnns.parity import check_pair
    from modern_cnns.parity.verdict.ports import PortError

    block, module = _mini()
    with pytest.raises(PortError, match="unknown --accept name"):
        check_pair(block, module, (3, 32, 32), dtypes=("float64",), accept=("no-such-thing",))


def test_a_hard_sigmoid_port_fails_float64_on_torchs_gradient_and_passes_once_accepted():
    from mxnet.gluon import HybridBlock
    from mxnet.gluon import nn as gnn
    from torch import nn

    from modern_cnns.parity import check_pair

    class HSigmoid(HybridBlock):
        """gluoncv2's hard sigmoid, written out: clip(x + 3, 0, 6) / 6."""
        def hybrid_forward(self, F, x):
            return F.clip(x + 3.0, 0.0, 6.0) / 6.0

    block = gnn.HybridSequential()
    block.add(gnn.Conv2D(4, 3, padding=1), HSigmoid(), gnn.GlobalAvgPool2D(), gnn.Flatten(), gnn.Dense(3))
    module = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Hardsigmoid(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                           nn.Linear(4, 3))
    result, = check_pair(block, module, (1, 8, 8), dtypes=("float64",))
    failed = [str(r.check) for r in result.rows if not r.passed]
    assert not result.passed and "predict output" not in failed, failed  # the forward agrees; gradients do not
    result, = check_pair(block, module, (1, 8, 8), dtypes=("float64",),
                         accept=("torch-hardsigmoid-backward-float32",))
    assert result.passed and "torch-hardsigmoid-backward-float32" in result.known_difference, \
        ([r.check for r in result.rows if not r.passed], result.diagnosis)
