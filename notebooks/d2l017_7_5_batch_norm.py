# %% [markdown]
# # d2l 0.17 §7.5 Batch Normalization: the PyTorch edition's code beside its Gluon twin
#
# *Dive into Deep Learning*, PyTorch edition (d2l 0.17), §7.5: batch normalization from
# scratch (§7.5.3, `moving_var` starting at ones, the mode taken from
# `torch.is_grad_enabled()`), LeNet with it (§7.5.4) and with `nn.BatchNorm2d/1d` (§7.5.5),
# trained with `train_ch6` (lr 1.0, batch 256, 10 epochs). Here the course's code is PyTorch;
# the Gluon twins are written in gluonbook's style so that the parity checker can hold one
# against the other. The course recorded only each run's last line, on CUDA; the 10-epoch runs
# of both frameworks are committed in `docs/runs/bn_lenet_scratch_d2l/` and
# `docs/runs/bn_lenet_concise_d2l/`. `NB_BATCHES` (environment) sets the short runs' batches.

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
# ## §7.5.3 Implementation from scratch

# %%
nb.side_by_side(torch_bn.batch_norm_d2l, gluon_bn.batch_norm_d2l, "the course (PyTorch)", "the Gluon twin")
nb.side_by_side(torch_bn.BatchNormD2L, gluon_bn.BatchNormD2L, "the course (PyTorch)", "the Gluon twin")

# %% [markdown]
# ## §7.5.4 Applying batch normalization in LeNet
#
# A short run of the edition's `train_ch6` (PyTorch) and of gluonbook's `train_ch5` (Gluon),
# beside the course's recorded last line.

# %%
nb.side_by_side(torch_lenet.bn_lenet_scratch_d2l, gluon_lenet.bn_lenet_scratch_d2l, "the course (PyTorch)",
                "the Gluon twin")

# %%
log = nb.train_briefly("bn_lenet_scratch_d2l", NB_BATCHES)

# %% [markdown]
# ## §7.5.5 Concise implementation
#
# The edition trains `nn.BatchNorm2d/1d`, which keep the *unbiased* running variance where
# Gluon's `nn.BatchNorm` keeps the biased one: `check` reports that network against its Gluon
# twin as a known difference of the course, and the port with Gluon's semantics as a pass.

# %%
nb.side_by_side(torch_lenet.bn_lenet_concise_d2l, gluon_lenet.bn_lenet_concise_d2l, "the course (PyTorch)",
                "the Gluon twin")

# %%
log = nb.train_briefly("bn_lenet_concise_d2l", NB_BATCHES)

# %% [markdown]
# ## Parity

# %%
results = nb.parity(["bn_lenet_scratch_d2l", "bn_lenet_concise_d2l", "bn_lenet_concise_d2l_stock"])
assert all(r.passed for r in results)
