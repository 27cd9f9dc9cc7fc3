"""Batch normalization from scratch, as the course wrote it, in each edition.

``batch_norm`` / ``BatchNorm`` are gluonbook's code (§5.11.2) unchanged:

* the mode comes from ``autograd.is_training()`` (inside ``autograd.record()``);
* ``moving_var`` starts at **zeros** (later d2l editions switched to ones), so
  predictions made before enough training steps divide by ``sqrt(0 + eps)``;
* momentum 0.9 weighs the *old* value: ``momentum * old + (1 - momentum) * new``;
* the moving statistics are plain attributes: ``collect_params()`` and
  ``save_parameters`` never see them.

``batch_norm_d2l`` / ``BatchNormD2L`` port the PyTorch editions (d2l 0.17 §7.5.3, d2l 1.0 §8.5.3) to
Gluon: ``moving_var`` starts at ones and the mode follows whether gradients are
being recorded (``autograd.is_recording()``, Gluon's counterpart of
``torch.is_grad_enabled()``).  d2l 0.17 writes momentum 0.9 on the old
value like gluonbook; d2l 1.0 (§8.5.3) writes momentum 0.1 on the *new* value.
``edition`` picks one; the two agree up to rounding.

One extension over the course code, for float64 parity runs: where the course
copies the moving statistics to the input's context, we also cast them to the
input's dtype (MXNet refuses to mix float32 and float64 operands).
"""
from mxnet import autograd, init, nd
from mxnet.gluon import nn

#: edition -> (momentum, momentum weighs the new batch statistic?)
D2L_EDITIONS = {"0.17": (0.9, False), "1.0": (0.1, True)}


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    # Use autograd to determine whether the current mode is training mode or prediction mode.
    if not autograd.is_training():
        # If it is the prediction mode, directly use the mean and variance obtained
        # from the incoming moving average.
        X_hat = (X - moving_mean) / nd.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            # When using a fully connected layer, calculate the mean and variance on the feature dimension.
            mean = X.mean(axis=0)
            var = ((X - mean) ** 2).mean(axis=0)
        else:
            # When using a two-dimensional convolutional layer, calculate the mean
            # and variance on the channel dimension (axis=1). Here we need to maintain
            # the shape of X, so that the broadcast operation can be carried out later.
            mean = X.mean(axis=(0, 2, 3), keepdims=True)
            var = ((X - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)

        # In training mode, the current mean and variance are used for the standardization.
        X_hat = (X - mean) / nd.sqrt(var + eps)

        # Update the mean and variance of the moving average.
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var

    Y = gamma * X_hat + beta  # Scale and shift.
    return Y, moving_mean, moving_var


def _follow_input(stat, X):
    """Move a moving statistic to X's context (course code) and dtype (float64 extension)."""
    if stat.context != X.context:
        stat = stat.copyto(X.context)
    if stat.dtype != X.dtype:
        stat = stat.astype(X.dtype)
    return stat


def _stat_shape(num_features, num_dims):
    return (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)


class BatchNorm(nn.Block):
    """gluonbook's scratch BatchNorm: gamma 1, beta 0, moving_mean 0, moving_var **0**."""

    def __init__(self, num_features, num_dims, **kwargs):
        super(BatchNorm, self).__init__(**kwargs)
        shape = _stat_shape(num_features, num_dims)
        # The scale parameter and the shift parameter involved in gradient finding and
        # iteration are initialized to 1 and 0 respectively.
        self.gamma = self.params.get('gamma', shape=shape, init=init.One())
        self.beta = self.params.get('beta', shape=shape, init=init.Zero())
        # All the variables not involved in gradient finding and iteration are initialized to 0 on the CPU.
        self.moving_mean = nd.zeros(shape)
        self.moving_var = nd.zeros(shape)

    def forward(self, X):
        self.moving_mean = _follow_input(self.moving_mean, X)
        self.moving_var = _follow_input(self.moving_var, X)
        # Save the updated moving_mean and moving_var.
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma.data(), self.beta.data(), self.moving_mean,
            self.moving_var, eps=1e-5, momentum=0.9)
        return Y


def batch_norm_d2l(X, gamma, beta, moving_mean, moving_var, eps, momentum, momentum_on_new=True):
    """The PyTorch edition's ``batch_norm``; ``momentum_on_new`` selects d2l 1.0's convention."""
    # Gluon's counterpart of `torch.is_grad_enabled()`: are gradients being recorded?
    if not autograd.is_recording():
        X_hat = (X - moving_mean) / nd.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(axis=0)
            var = ((X - mean) ** 2).mean(axis=0)
        else:
            mean = X.mean(axis=(0, 2, 3), keepdims=True)
            var = ((X - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
        X_hat = (X - mean) / nd.sqrt(var + eps)
        if momentum_on_new:
            moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
            moving_var = (1.0 - momentum) * moving_var + momentum * var
        else:
            moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
            moving_var = momentum * moving_var + (1.0 - momentum) * var
    Y = gamma * X_hat + beta
    # `.data` in the PyTorch code: keep the moving statistics out of the graph.
    return Y, moving_mean.detach(), moving_var.detach()


class BatchNormD2L(nn.Block):
    """The PyTorch edition's scratch BatchNorm: moving_var starts at **ones**."""

    def __init__(self, num_features, num_dims, edition="1.0", **kwargs):
        super(BatchNormD2L, self).__init__(**kwargs)
        if edition not in D2L_EDITIONS:
            raise ValueError(f"unknown d2l edition {edition!r}; valid: {sorted(D2L_EDITIONS)}")
        self.edition = edition
        shape = _stat_shape(num_features, num_dims)
        self.gamma = self.params.get('gamma', shape=shape, init=init.One())
        self.beta = self.params.get('beta', shape=shape, init=init.Zero())
        self.moving_mean = nd.zeros(shape)
        self.moving_var = nd.ones(shape)

    def forward(self, X):
        self.moving_mean = _follow_input(self.moving_mean, X)
        self.moving_var = _follow_input(self.moving_var, X)
        momentum, on_new = D2L_EDITIONS[self.edition]
        Y, self.moving_mean, self.moving_var = batch_norm_d2l(
            X, self.gamma.data(), self.beta.data(), self.moving_mean,
            self.moving_var, eps=1e-5, momentum=momentum, momentum_on_new=on_new)
        return Y
