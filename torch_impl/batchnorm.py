"""Batch normalization from scratch, as the course wrote it, in each edition.

``batch_norm_d2l`` / ``BatchNormD2L`` are the PyTorch edition's code:

* the mode comes from ``torch.is_grad_enabled()``: ``.eval()`` is ignored, a
  model in ``.train()`` evaluated under ``torch.no_grad()`` *predicts*, and a
  model in ``.eval()`` with gradients enabled *trains* (and updates its moving
  statistics);
* ``moving_var`` starts at ones;
* d2l 0.17 (§7.5.3, ``edition="0.17"``) writes momentum 0.9 on the old value,
  d2l 1.0 (§8.5.3, ``edition="1.0"``) writes momentum 0.1 on the new value.

``batch_norm`` / ``BatchNorm`` port gluonbook's code (§5.11.2) to PyTorch:
``moving_var`` starts at **zeros**, momentum 0.9 weighs the old value, and the
mode is the module's ``.training`` flag, PyTorch's counterpart of Gluon's
``autograd.is_training()`` (a mode flag independent of gradient recording).

In both, the moving statistics are plain attributes, as in the course: not in
``state_dict()``, not moved by ``.to(device)`` (the forward copies them to the
input's device, as the course does, and to its dtype, our float64 extension).
"""
import torch
from torch import nn

#: edition -> (momentum, momentum weighs the new batch statistic?)
D2L_EDITIONS = {"0.17": (0.9, False), "1.0": (0.1, True)}


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    """gluonbook's ``batch_norm``; ``training`` stands for ``autograd.is_training()``."""
    if not training:
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var
    Y = gamma * X_hat + beta
    # Gluon's moving statistics never take part in back-propagation; keep them out of the graph.
    return Y, moving_mean.detach(), moving_var.detach()


def _follow_input(stat, X):
    """Move a moving statistic to X's device (course code) and dtype (float64 extension)."""
    if stat.device != X.device or stat.dtype != X.dtype:
        stat = stat.to(device=X.device, dtype=X.dtype)
    return stat


def _stat_shape(num_features, num_dims):
    return (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)


class BatchNorm(nn.Module):
    """gluonbook's scratch BatchNorm in PyTorch: gamma 1, beta 0, moving_mean 0, moving_var **0**."""

    def __init__(self, num_features, num_dims):
        super().__init__()
        shape = _stat_shape(num_features, num_dims)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.moving_mean = torch.zeros(shape)
        self.moving_var = torch.zeros(shape)

    def forward(self, X):
        self.moving_mean = _follow_input(self.moving_mean, X)
        self.moving_var = _follow_input(self.moving_var, X)
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var,
            eps=1e-5, momentum=0.9, training=self.training)
        return Y


def batch_norm_d2l(X, gamma, beta, moving_mean, moving_var, eps, momentum, momentum_on_new=True):
    """The PyTorch edition's ``batch_norm``; ``momentum_on_new`` selects d2l 1.0's convention."""
    # Use `is_grad_enabled` to determine whether we are in training mode
    if not torch.is_grad_enabled():
        # In prediction mode, use mean and variance obtained by moving average
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            # When using a fully connected layer, calculate the mean and
            # variance on the feature dimension
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            # When using a two-dimensional convolutional layer, calculate the
            # mean and variance on the channel dimension (axis=1). Here we
            # need to maintain the shape of X, so that the broadcasting
            # operation can be carried out later
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        # In training mode, the current mean and variance are used
        X_hat = (X - mean) / torch.sqrt(var + eps)
        # Update the mean and variance using moving average
        if momentum_on_new:
            moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
            moving_var = (1.0 - momentum) * moving_var + momentum * var
        else:
            moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
            moving_var = momentum * moving_var + (1.0 - momentum) * var
    Y = gamma * X_hat + beta  # Scale and shift
    return Y, moving_mean.data, moving_var.data


class BatchNormD2L(nn.Module):
    """The PyTorch edition's scratch ``BatchNorm``: moving_var starts at **ones**."""

    # num_features: the number of outputs for a fully connected layer or the
    # number of output channels for a convolutional layer. num_dims: 2 for a
    # fully connected layer and 4 for a convolutional layer
    def __init__(self, num_features, num_dims, edition="1.0"):
        super().__init__()
        if edition not in D2L_EDITIONS:
            raise ValueError(f"unknown d2l edition {edition!r}; valid: {sorted(D2L_EDITIONS)}")
        self.edition = edition
        shape = _stat_shape(num_features, num_dims)
        # The scale parameter and the shift parameter (model parameters) are
        # initialized to 1 and 0, respectively
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        # The variables that are not model parameters are initialized to 0 and 1
        self.moving_mean = torch.zeros(shape)
        self.moving_var = torch.ones(shape)

    def forward(self, X):
        self.moving_mean = _follow_input(self.moving_mean, X)
        self.moving_var = _follow_input(self.moving_var, X)
        momentum, on_new = D2L_EDITIONS[self.edition]
        # Save the updated moving_mean and moving_var
        Y, self.moving_mean, self.moving_var = batch_norm_d2l(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var,
            eps=1e-5, momentum=momentum, momentum_on_new=on_new)
        return Y
