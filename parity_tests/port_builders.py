"""Small Gluon/torch pairs of a user's kind, as ``MODULE:CALLABLE`` builders for the command line's tests.

LeNet-sized (one 8x8 channel in, 5 classes out), so a check of one takes a second or two.  The
bad builders return what careless code returns: None, a class, a string, the other framework's
model, a model without parameters.

Each builder imports its own framework, so that this module imports in a one-framework env (the tests
that use it are skipped there with the reason).
"""
INPUT = (1, 8, 8)


def tiny_gluon():
    """Conv, Gluon BatchNorm, ReLU, Dense: initialised (Xavier) on the CPU."""
    import mxnet as mx
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=1), nn.BatchNorm(in_channels=4), nn.Activation("relu"),
            nn.Dense(5, in_units=4 * 6 * 6))
    net.initialize(mx.init.Xavier())
    return net


def tiny_torch():
    """:func:`tiny_gluon`'s port, child for child (torch's Linear needs no Flatten before a Dense here:
    :class:`~modern_cnns.torch_impl.gluon_layers.Dense` flattens as Gluon's does)."""
    from torch import nn

    from modern_cnns.torch_impl.gluon_layers import BatchNorm as GluonBatchNorm
    from modern_cnns.torch_impl.gluon_layers import Dense

    return nn.Sequential(nn.Conv2d(1, 4, 3), GluonBatchNorm(in_channels=4), nn.ReLU(), Dense(5, in_units=4 * 6 * 6))


def tiny_torch_lazy():
    """The port with a Lazy first convolution and a Lazy last layer (shapes come from the first input)."""
    from torch import nn

    from modern_cnns.torch_impl.gluon_layers import BatchNorm as GluonBatchNorm

    return nn.Sequential(nn.LazyConv2d(4, 3), GluonBatchNorm(in_channels=4), nn.ReLU(), nn.Flatten(),
                         nn.LazyLinear(5))


def returns_none():
    return None


def returns_a_class():
    from mxnet.gluon import nn

    return nn.HybridSequential


def returns_a_str():
    return "tiny_gluon"


def no_parameters_gluon():
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    net.add(nn.Activation("relu"))
    return net


def no_parameters_torch():
    from torch import nn

    return nn.Sequential(nn.ReLU())


def pooled_gluon():
    """Conv, global average pooling, Dense: runs at any input size of 3x3 or more."""
    import mxnet as mx
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=1), nn.GlobalAvgPool2D(), nn.Dense(5, in_units=4))
    net.initialize(mx.init.Xavier())
    return net


def fixed_pool_torch():
    """:func:`pooled_gluon`'s port with a fixed 6x6 average pooling: equal at 8x8 input (6x6 maps) only;
    from 14x14 on its output has more than one position and the Linear cannot take it."""
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.AvgPool2d(6), nn.Flatten(), nn.Linear(4, 5))


def _gluon_two_heads(kind):
    from mxnet.gluon import nn

    class TwoHeads(nn.HybridBlock):
        """Logits and an auxiliary head, returned as a tuple, a list or a dict."""

        def __init__(self):
            super().__init__()
            self.body = tiny_gluon()
            self.aux = nn.Dense(3, in_units=5)

        def hybrid_forward(self, F, x):
            logits = self.body(x)
            aux = self.aux(logits)
            return {"logits": logits, "aux": aux} if kind == "dict" else [logits, aux] if kind == "list" else \
                (logits, aux)

    net = TwoHeads()
    net.aux.initialize()
    return net


def _torch_two_heads(kind, aux_scale=1.0):
    import torch
    from torch import nn

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = tiny_torch()
            self.aux = nn.Linear(5, 3)

        def forward(self, x):
            logits = self.body(x)
            aux = self.aux(logits) * aux_scale
            return {"logits": logits, "aux": aux} if kind == "dict" else [logits, aux] if kind == "list" else \
                (logits, aux)

    torch.manual_seed(0)
    return TwoHeads()


def two_heads_gluon():
    return _gluon_two_heads("tuple")


def two_heads_torch():
    return _torch_two_heads("tuple")


def tiny_torch_nonnegative_inputs():
    """:func:`tiny_torch` written for images in [0, 1]: it clips its input at 0 first (a port bug that the
    checker's seeded inputs, uniform in [0, 1), and their positive scalings never show)."""
    from torch import nn

    class ClipsItsInput(nn.Sequential):
        def forward(self, x):
            return super().forward(x.clamp(min=0.0))

    return ClipsItsInput(*tiny_torch().children())
