# %% [markdown]
# # gluonbook §5.11 Batch Normalization: the course's Gluon code beside the PyTorch port
#
# *Dive into Deep Learning*, MXNet edition (gluonbook), §5.11: batch normalization from scratch
# (§5.11.2), LeNet with it (§5.11.3) and with Gluon's `nn.BatchNorm` (§5.11.4). Each cell shows
# the course's code (`gluon_impl`) beside its port (`torch_impl`), runs both, and sets the
# course's recorded output beside ours. `NB_BATCHES` (environment) sets how many training
# batches the short runs take; the full 5-epoch run is committed in `docs/runs/bn_lenet_scratch/`.

# %%
import os
import sys

from modern_cnns.gluon_impl import batchnorm as gluon_bn
from modern_cnns.gluon_impl import lenet as gluon_lenet
from modern_cnns.parity import notebook as nb
from modern_cnns.torch_impl import batchnorm as torch_bn
from modern_cnns.torch_impl import lenet as torch_lenet

NB_BATCHES = nb.batches(default=20)
print("kernel: Python", sys.version.split()[0], "from", os.path.basename(sys.prefix), "| training batches per run:",
      NB_BATCHES)

# %% [markdown]
# ## §5.11.2 Implementation starting from scratch
#
# The course's `batch_norm` takes its mode from `autograd.is_training()` and updates the moving
# statistics as `momentum * old + (1 - momentum) * new`. The port takes the mode as an argument
# (PyTorch has no `autograd.record()` scope) and computes the same thing.

# %%
nb.side_by_side(gluon_bn.batch_norm, torch_bn.batch_norm)

# %% [markdown]
# The `BatchNorm` layer: gluonbook initialises `moving_var` to **zeros** (later editions use
# ones); both frameworks keep that quirk.

# %%
nb.side_by_side(gluon_bn.BatchNorm, torch_bn.BatchNorm)

# %% [markdown]
# ## §5.11.3 Use a Batch Normalization LeNet
#
# The network, then a short run of the course's `train_ch5` (lr 1.0, batch 256) in Gluon and of
# its port in PyTorch, from Gluon's Xavier initialisation. The table sets the course's recorded
# 5 epochs (Gluon on a CPU) beside ours, and the learned gamma and beta of the first BatchNorm
# layer beside the course's.

# %%
nb.side_by_side(gluon_lenet.bn_lenet_scratch, torch_lenet.bn_lenet_scratch)

# %%
log = nb.train_briefly("bn_lenet_scratch", NB_BATCHES)

# %% [markdown]
# ## §5.11.4 Gluon implementation for batch normalization
#
# The same LeNet with Gluon's own `nn.BatchNorm`; the port uses `gluon_layers.BatchNorm`, which
# keeps Gluon's semantics (biased running variance, statistics updated in the backward pass).

# %%
nb.side_by_side(gluon_lenet.bn_lenet_concise, torch_lenet.bn_lenet_concise)

# %% [markdown]
# ## Parity: both networks compute the same thing
#
# Gluon is initialised (Xavier, seeded), its state copied into the port, and the checker
# compares predictions, training outputs, every gradient and the state after an SGD step, in
# float64 (`python -m parity check bn_lenet_scratch bn_lenet_concise` runs the full check).

# %%
results = nb.parity(["bn_lenet_scratch", "bn_lenet_concise"])
assert all(r.passed for r in results)
