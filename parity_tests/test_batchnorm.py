"""BatchNorm: Gluon's ``nn.BatchNorm`` against ``torch_impl.gluon_layers.BatchNorm``, and the scratch BNs.

Everything runs in float64 and is judged at a relative tolerance of 1e-12 (see
``parity.verdict.compare``): the semantics are equal, the rest is rounding.  Each
difference between the frameworks that the port has to account for is pinned by
a test here; docs/BATCHNORM.md lists them with the test names.
"""
import numpy as np
import pytest

from modern_cnns.parity.verdict.compare import assert_close
from modern_cnns.parity.verdict.pair import torch_device
from parity_tests.conftest import needs_both, needs_torch

pytestmark = needs_both
RTOL = 1e-12
CONV, DENSE = "conv", "dense"
SHAPES = [(CONV, (8, 3, 4, 4)), (CONV, (2, 4, 3, 3)), (CONV, (1, 2, 5, 5)), (DENSE, (16, 5)), (DENSE, (3, 7))]
IDS = [f"{kind}{'x'.join(map(str, shape))}" for kind, shape in SHAPES]


class Pair:
    """A Gluon ``nn.BatchNorm`` and its torch port with the same (random) state, in float64."""

    def __init__(self, device, shape, axis=1, seed=0, **kwargs):
        import mxnet as mx
        from mxnet.gluon import nn

        from modern_cnns.parity.verdict.pair import gluon_ctx, randomize_gluon_state, torch_device
        from modern_cnns.parity.weights.transfer import gluon_to_torch
        from modern_cnns.torch_impl import gluon_layers as gl

        channels = shape[axis]
        self.ctx, self.dev = gluon_ctx(device), torch_device(device)
        self.g = nn.BatchNorm(axis=axis, in_channels=channels, **kwargs)
        self.g.initialize(ctx=self.ctx)
        self.g.cast("float64")
        randomize_gluon_state(self.g, seed)
        self.t = gl.BatchNorm(axis=axis, in_channels=channels, **kwargs).double().to(self.dev)
        gluon_to_torch(self.g, self.t)
        self.rng = np.random.default_rng(seed + 100)
        self.shape = shape
        self.mx = mx

    def batch(self):
        return self.rng.normal(0.3, 2.0, size=self.shape), self.rng.normal(size=self.shape)

    def train_step(self, x, w, backward=True, retain_twice=False):
        """One train-mode forward of ``sum(y * w)`` (and backward) in both; returns the tensors to compare."""
        import torch
        from mxnet import autograd, nd

        xg = nd.array(x, ctx=self.ctx, dtype="float64")
        xg.attach_grad()
        with autograd.record():
            yg = self.g(xg)
            lg = (yg * nd.array(w, ctx=self.ctx, dtype="float64")).sum()
        xt = torch.tensor(x, device=self.dev, requires_grad=True)
        self.t.zero_grad()  # Gluon's grad_req='write' overwrites; torch accumulates
        self.t.train()
        yt = self.t(xt)
        lt = (yt * torch.tensor(w, device=self.dev)).sum()
        if backward:
            lg.backward(retain_graph=retain_twice)
            lt.backward(retain_graph=retain_twice)
            if retain_twice:
                lg.backward()
                lt.backward()
        out = {"train output": (yt.detach().cpu().numpy(), yg.asnumpy())}
        if backward:
            out["input gradient"] = (xt.grad.cpu().numpy(), xg.grad.asnumpy())
            if self.g.gamma.grad_req != "null":
                out["gamma gradient"] = (self.t.weight.grad.cpu().numpy(), self.g.gamma.grad(self.ctx).asnumpy())
            if self.g.beta.grad_req != "null":
                out["beta gradient"] = (self.t.bias.grad.cpu().numpy(), self.g.beta.grad(self.ctx).asnumpy())
        return out

    def predict(self, x):
        import torch
        from mxnet import nd

        yg = self.g(nd.array(x, ctx=self.ctx, dtype="float64"))
        with torch.no_grad():
            yt = self.t.eval()(torch.tensor(x, device=self.dev))
        return yt.cpu().numpy(), yg.asnumpy()

    def stats(self):
        return {
            "running_mean": (self.t.running_mean.cpu().numpy(), self.g.running_mean.data(self.ctx).asnumpy()),
            "running_var": (self.t.running_var.cpu().numpy(), self.g.running_var.data(self.ctx).asnumpy()),
        }

    def gluon_stats(self):
        return {k: g.copy() for k, (_, g) in self.stats().items()}


def assert_all_close(pairs, rtol=RTOL):
    for name, (actual, expected) in pairs.items():
        assert_close(name, actual, expected, rtol)


# --- the layer, output for output -------------------------------------------------------------
@pytest.mark.parametrize("kind,shape", SHAPES, ids=IDS)
def test_train_predict_gradients_and_running_stats_over_10_steps(device, kind, shape):
    pair = Pair(device, shape)
    for step in range(1, 11):
        x, w = pair.batch()
        assert_all_close(pair.train_step(x, w))
        if step in (1, 2, 10):
            assert_all_close(pair.stats())
            assert_close("predict output", *pair.predict(pair.batch()[0]), RTOL)


@pytest.mark.parametrize("options", [dict(scale=False), dict(center=False), dict(use_global_stats=True),
                                     dict(momentum=0.7, epsilon=1e-3)], ids=str)
def test_options_match(device, options):
    pair = Pair(device, (6, 3, 4, 4), **options)
    for _ in range(3):
        out = pair.train_step(*pair.batch())
        assert ("gamma gradient" in out) == options.get("scale", True)
        assert ("beta gradient" in out) == options.get("center", True)
        assert_all_close(out)
        assert_all_close(pair.stats())
    assert_close("predict output", *pair.predict(pair.batch()[0]), RTOL)
    assert_close("gamma", pair.t.weight.detach().cpu().numpy(), pair.g.gamma.data(pair.ctx).asnumpy(), 0)


def test_scale_false_uses_gamma_one_and_center_false_still_adds_beta(device):
    pair = Pair(device, (6, 3, 4, 4), scale=False, center=False)
    beta = pair.g.beta.data(pair.ctx).asnumpy().copy()
    x, w = pair.batch()
    out = pair.train_step(x, w)
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) + beta.reshape(1, 3, 1, 1)
    assert_close("gluon output, gamma=1 and beta added", out["train output"][1], expected, RTOL)
    np.testing.assert_array_equal(pair.g.beta.data(pair.ctx).asnumpy(), beta)  # not trained: grad_req null


def test_channel_axis_last(device):
    pair = Pair(device, (4, 5, 5, 3), axis=-1)
    for _ in range(2):
        assert_all_close(pair.train_step(*pair.batch()))
    assert_all_close(pair.stats())
    assert_close("predict output", *pair.predict(pair.batch()[0]), RTOL)


# --- the semantic differences, each pinned ----------------------------------------------------
def test_gluon_updates_running_stats_in_backward_not_forward(device):
    """A train-mode forward never back-propagated leaves Gluon's statistics alone; stock torch moves them."""
    import torch

    pair = Pair(device, (8, 3, 4, 4))
    before = pair.gluon_stats()
    x, w = pair.batch()
    pair.train_step(x, w, backward=False)
    for name, (ours, gluon) in pair.stats().items():
        np.testing.assert_array_equal(gluon, before[name], err_msg=f"Gluon moved {name} without backward")
        np.testing.assert_array_equal(ours, gluon, err_msg=f"port moved {name} without backward")
    # then a prediction: Gluon and the port still predict with the untouched statistics ...
    probe = pair.batch()[0]
    assert_close("predict output after a forward without backward", *pair.predict(probe), RTOL)
    # ... while stock torch has already moved its statistics, so its prediction differs
    stock = torch.nn.BatchNorm2d(3).double().to(pair.dev)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(stock, name).copy_(getattr(pair.t, name))
        stock.train()(torch.tensor(x, device=pair.dev))  # train mode, no grad, no backward
        stock_prediction = stock.eval()(torch.tensor(probe, device=pair.dev)).cpu().numpy()
    assert not np.allclose(stock.running_mean.cpu().numpy(), before["running_mean"])
    assert np.abs(stock_prediction - pair.predict(probe)[1]).max() > 1e-3


def test_two_backward_passes_update_twice(device):
    pair = Pair(device, (8, 3, 4, 4))
    before = pair.gluon_stats()
    x, w = pair.batch()
    pair.train_step(x, w, retain_twice=True)
    assert_all_close(pair.stats())
    mean = x.mean(axis=(0, 2, 3))
    m = float(np.float32(0.9))
    twice = m * (m * before["running_mean"] + (1 - m) * mean) + (1 - m) * mean
    assert_close("Gluon running_mean after two backward passes", pair.stats()["running_mean"][1], twice, RTOL)


def test_momentum_is_float32_and_variance_biased_and_eps_exact(device):
    """Gluon: old*m + new*(1-m) with m = float32(0.9); the *biased* batch variance; eps a double."""
    pair = Pair(device, (8, 3, 4, 4))
    before = pair.gluon_stats()
    x, w = pair.batch()
    pair.train_step(x, w)
    mean, biased = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    unbiased = x.var(axis=(0, 2, 3), ddof=1)
    got = pair.stats()
    m32 = float(np.float32(0.9))
    assert_close("running_mean", got["running_mean"][1], m32 * before["running_mean"] + (1 - m32) * mean, RTOL)
    assert_close("running_var", got["running_var"][1], m32 * before["running_var"] + (1 - m32) * biased, RTOL)
    with pytest.raises(AssertionError):  # the double 0.9 is measurably not what Gluon uses
        assert_close("running_mean", got["running_mean"][1], 0.9 * before["running_mean"] + 0.1 * mean, RTOL)
    with pytest.raises(AssertionError):  # nor the unbiased variance torch stores
        assert_close("running_var", got["running_var"][1], m32 * before["running_var"] + (1 - m32) * unbiased, 1e-6)
    # eps: with a tiny running variance, float32(1e-5) instead of 1e-5 shows at 1e-9
    tiny = Pair(device, (4, 2, 3, 3))
    tiny.g.running_var.set_data(tiny.mx.nd.array([1e-4, 2e-4], ctx=tiny.ctx, dtype="float64"))
    x = tiny.batch()[0]
    yg = tiny.predict(x)[1]
    gamma, beta = (p.data(tiny.ctx).asnumpy().reshape(1, 2, 1, 1) for p in (tiny.g.gamma, tiny.g.beta))
    rm = tiny.g.running_mean.data(tiny.ctx).asnumpy().reshape(1, 2, 1, 1)
    rv = np.array([1e-4, 2e-4]).reshape(1, 2, 1, 1)
    assert_close("predict with eps 1e-5", yg, (x - rm) / np.sqrt(rv + 1e-5) * gamma + beta, RTOL)
    with pytest.raises(AssertionError):
        assert_close("predict with float32 eps", yg, (x - rm) / np.sqrt(rv + float(np.float32(1e-5))) * gamma + beta,
                     RTOL)


def test_naive_port_with_verbatim_momentum_drifts(device):
    """Copying Gluon's momentum 0.9 into nn.BatchNorm2d (a common converter bug) is visibly wrong."""
    import torch

    pair = Pair(device, (16, 3, 4, 4))
    naive = torch.nn.BatchNorm2d(3, momentum=0.9).double().to(pair.dev)
    with torch.no_grad():
        naive.running_mean.copy_(pair.t.running_mean)
        naive.running_var.copy_(pair.t.running_var)
    for _ in range(5):
        x, w = pair.batch()
        pair.train_step(x, w)
        naive.train()(torch.tensor(x, device=pair.dev))
    ours, gluon = pair.stats()["running_mean"]
    assert_close("port running_mean", ours, gluon, RTOL)
    assert np.abs(naive.running_mean.cpu().numpy() - gluon).max() > 1e-2


def test_dense_batch_of_one(device):
    """Gluon trains a dense BN on one example: variance 0, output = beta.  Stock torch raises instead."""
    import torch

    pair = Pair(device, (1, 5))
    x, w = pair.batch()
    out = pair.train_step(x, w)
    assert_all_close(out)
    beta = pair.g.beta.data(pair.ctx).asnumpy()
    np.testing.assert_allclose(out["train output"][1], beta.reshape(1, 5), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out["input gradient"][1], np.zeros((1, 5)))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        torch.nn.BatchNorm1d(5).double().train()(torch.tensor(x))


# --- float32: the port's own accuracy, judged against float64 ----------------------------------
@pytest.mark.parametrize("shape,dead", [((4, 248, 3, 3), True), ((4, 16, 6, 6), True), ((32, 120), False)], ids=str)
def test_float32_gradients_are_within_1e5_of_float64(device, shape, dead):
    """The fused kernels keep the layer's float32 error at float32 rounding, dead channels included.

    With ``dead``, every 4th channel is constant over the batch (what a dead ReLU upstream
    gives): there the decomposed mean/var/sqrt graph this layer used before lost 3e-5..7e-5 in
    the gamma gradient (measured on an AVX2 CPU), and 0.41 in a DenseNet input gradient.  Such a
    channel is ill-conditioned for any float32 kernel (one ulp of its mean, divided by
    sqrt(eps)): MXNet's own float32 output is 1e-5..7e-5 from float64 there, and torch's dense
    (N, C) kernel 1.2e-5, so the dense case uses live channels only.  The tail is DenseNet's:
    BatchNorm, ReLU (beta away from 0, so no ReLU tie decides anything), global average pooling,
    a dense layer and the summed cross-entropy.
    """
    import torch
    import torch.nn.functional as F

    from modern_cnns.torch_impl import gluon_layers as gl

    rng = np.random.default_rng(3)
    x = rng.normal(0.3, 1.0, size=shape)
    if dead:
        x[:, ::4] = 0.7
    x = x.astype(np.float32).astype(np.float64)  # both dtypes see the same input values
    channels, dims = shape[1], tuple(range(2, len(shape)))
    head = rng.normal(0, 0.1, size=(10, channels)).astype(np.float32).astype(np.float64)
    labels = torch.tensor(rng.integers(0, 10, shape[0]), device=torch_device(device))
    got = {}
    for dtype in (torch.float64, torch.float32):
        bn = gl.BatchNorm(in_channels=channels).to(device=torch_device(device), dtype=dtype)
        with torch.no_grad():
            bn.weight.copy_(torch.linspace(0.5, 1.5, channels))
            bn.bias.copy_(torch.linspace(0.2, 1.0, channels))
        xt = torch.tensor(x, dtype=dtype, device=bn.weight.device, requires_grad=True)
        y = bn.train()(xt)
        h = torch.relu(y).mean(dim=dims) if dims else torch.relu(y)
        F.cross_entropy(h @ torch.tensor(head, dtype=dtype, device=xt.device).T, labels, reduction="sum").backward()
        got[dtype] = {"train output": y, "input gradient": xt.grad, "gamma gradient": bn.weight.grad,
                      "beta gradient": bn.bias.grad, "running_var": bn.running_var}
    for name, value in got[torch.float32].items():
        assert_close(f"float32 {name} vs float64", value.detach().double().cpu().numpy(),
                     got[torch.float64][name].detach().cpu().numpy(), 1e-5)


# --- the course's scratch BatchNorm ------------------------------------------------------------
def _scratch_pair(edition, num_dims, channels):
    import mxnet as mx

    from modern_cnns.gluon_impl import batchnorm as gbn
    from modern_cnns.torch_impl import batchnorm as tbn

    if edition == "gluonbook":
        g, t = gbn.BatchNorm(channels, num_dims), tbn.BatchNorm(channels, num_dims)
    else:
        g, t = gbn.BatchNormD2L(channels, num_dims, edition), tbn.BatchNormD2L(channels, num_dims, edition)
    g.initialize()
    g.cast("float64")
    t.double()
    rng = np.random.default_rng(5)
    shape = g.gamma.shape
    for gp, tp in ((g.gamma, t.gamma), (g.beta, t.beta)):
        value = rng.uniform(0.5, 1.5, size=shape)
        gp.set_data(mx.nd.array(value, dtype="float64"))
        tp.data.copy_(__import__("torch").from_numpy(value))
    return g, t


@pytest.mark.parametrize("edition", ["gluonbook", "0.17", "1.0"])
@pytest.mark.parametrize("num_dims,shape", [(4, (6, 3, 4, 4)), (2, (5, 4))])
def test_scratch_bn_port_matches_its_gluon_twin(edition, num_dims, shape):
    """Train output, input gradient and moving statistics after 1, 2 and 10 steps; then prediction."""
    import torch
    from mxnet import autograd, nd

    g, t = _scratch_pair(edition, num_dims, shape[1])
    rng = np.random.default_rng(9)
    for step in range(1, 11):
        # a weighted sum: the gradient of a plain sum through BN is zero up to rounding
        x, w = rng.normal(0.5, 2.0, size=shape), rng.normal(size=shape)
        xg = nd.array(x, dtype="float64")
        xg.attach_grad()
        with autograd.record():
            yg = g(xg)
            lg = (yg * nd.array(w, dtype="float64")).sum()
        lg.backward()
        xt = torch.tensor(x, requires_grad=True)
        yt = t.train()(xt)
        (yt * torch.from_numpy(w)).sum().backward()
        assert_close("train output", yt.detach().numpy(), yg.asnumpy(), RTOL)
        assert_close("input gradient", xt.grad.numpy(), xg.grad.asnumpy(), RTOL)
        if step in (1, 2, 10):
            assert_close("moving_mean", t.moving_mean.numpy(), g.moving_mean.asnumpy(), RTOL)
            assert_close("moving_var", t.moving_var.numpy(), g.moving_var.asnumpy(), RTOL)
    x = rng.normal(size=shape)
    with torch.no_grad():
        assert_close("predict output", t.eval()(torch.tensor(x)).numpy(), g(nd.array(x, dtype="float64")).asnumpy(),
                     RTOL)


def test_gluonbook_moving_var_starts_at_zero_and_d2l_at_one():
    from modern_cnns.gluon_impl.batchnorm import BatchNorm, BatchNormD2L

    assert BatchNorm(3, 4).moving_var.asnumpy().tolist() == [[[[0.0]], [[0.0]], [[0.0]]]]
    assert BatchNormD2L(3, 2).moving_var.asnumpy().tolist() == [[1.0, 1.0, 1.0]]


def test_scratch_agrees_with_builtin_in_training_but_not_in_fresh_prediction():
    """Same batch statistics and gamma/beta: training outputs agree.  Fresh prediction differs: the
    scratch moving_var is 0 (divide by sqrt(eps)) where Gluon's running_var is 1."""
    import mxnet as mx
    from mxnet import autograd, nd
    from mxnet.gluon import nn

    from modern_cnns.gluon_impl.batchnorm import BatchNorm

    scratch, builtin = BatchNorm(3, 4), nn.BatchNorm(in_channels=3)
    for blk in (scratch, builtin):
        blk.initialize()
        blk.cast("float64")
    x = nd.array(np.random.default_rng(1).normal(1.0, 3.0, size=(8, 3, 4, 4)), dtype="float64")
    with autograd.record():
        ys, yb = scratch(x), builtin(x)
    assert_close("train output", ys.asnumpy(), yb.asnumpy(), RTOL)
    fresh_s, fresh_b = BatchNorm(3, 4), nn.BatchNorm(in_channels=3)
    for blk in (fresh_s, fresh_b):
        blk.initialize(mx.init.One())
        blk.cast("float64")
    ps, pb = fresh_s(x).asnumpy(), fresh_b(x).asnumpy()
    np.testing.assert_allclose(ps, x.asnumpy() / np.sqrt(1e-5), rtol=1e-12)
    np.testing.assert_allclose(pb, x.asnumpy() / np.sqrt(1 + 1e-5), rtol=1e-12)


def test_scratch_momentum_is_an_exact_double_unlike_the_builtin():
    """The scratch code multiplies by the Python float 0.9; nn.BatchNorm by float32(0.9)."""
    from mxnet import autograd, nd

    from modern_cnns.gluon_impl.batchnorm import BatchNorm

    bn = BatchNorm(3, 4)
    bn.initialize()
    bn.cast("float64")
    x = np.random.default_rng(2).normal(1.0, 3.0, size=(8, 3, 4, 4))
    with autograd.record():
        bn(nd.array(x, dtype="float64"))
    expected = 0.1 * x.mean(axis=(0, 2, 3), keepdims=True)  # 0.9 * 0 + (1 - 0.9) * mean
    assert_close("moving_mean", bn.moving_mean.asnumpy(), expected, RTOL)


@needs_torch
def test_d2l_scratch_mode_follows_grad_mode_not_eval():
    """PyTorch edition: under no_grad a .train() model predicts; with grad an .eval() model trains."""
    import torch

    from modern_cnns.torch_impl.batchnorm import BatchNormD2L

    bn = BatchNormD2L(3, 4).double()
    x = torch.from_numpy(np.random.default_rng(3).normal(2.0, 1.0, size=(8, 3, 4, 4)))
    with torch.no_grad():
        y = bn.train()(x)
    assert_close("no_grad predicts with moving stats", y.numpy(), (x / np.sqrt(1 + 1e-5)).numpy(), RTOL)
    assert float(bn.moving_mean.abs().max()) == 0.0
    bn.eval()(x)  # grad enabled: trains, updates
    assert float(bn.moving_mean.abs().max()) > 0.1


def test_gluonbook_scratch_mode_follows_is_training_not_recording():
    """gluonbook: recording in predict mode still predicts; train_mode without recording trains."""
    from mxnet import autograd, nd

    from modern_cnns.gluon_impl.batchnorm import BatchNorm

    bn = BatchNorm(3, 4)
    bn.initialize()
    x = nd.array(np.random.default_rng(4).normal(2.0, 1.0, size=(8, 3, 4, 4)))
    with autograd.record(train_mode=False):
        bn(x)
    assert float(bn.moving_mean.abs().max().asscalar()) == 0.0
    with autograd.train_mode():
        bn(x)
    assert float(bn.moving_mean.abs().max().asscalar()) > 0.1


@pytest.mark.parametrize("num_dims,shape", [(4, (6, 3, 4, 4)), (2, (5, 4))])
def test_d2l_editions_agree_up_to_rounding(num_dims, shape):
    import torch

    from modern_cnns.torch_impl.batchnorm import BatchNormD2L

    a, b = BatchNormD2L(shape[1], num_dims, "0.17").double(), BatchNormD2L(shape[1], num_dims, "1.0").double()
    rng = np.random.default_rng(6)
    for _ in range(10):
        x = torch.from_numpy(rng.normal(size=shape))
        assert_close("train output", a(x).detach().numpy(), b(x).detach().numpy(), RTOL)
    assert_close("moving_var", a.moving_var.numpy(), b.moving_var.numpy(), 1e-14)
