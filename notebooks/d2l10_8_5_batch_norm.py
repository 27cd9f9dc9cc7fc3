# %% [markdown]
# # d2l 1.0 §8.5 Batch Normalization: the edition's code beside its Gluon twin
#
# *Dive into Deep Learning* (d2l 1.0), §8.5: the scratch `batch_norm` now writes momentum 0.1
# on the *new* value (§8.5.3), and `BNLeNetScratch` (§8.5.4) trains at lr 0.1, batch 128, for
# 10 epochs, its weights set by `init_cnn` through `apply_init` (a forward first, so the Lazy
# layers have shapes). The course's code is PyTorch; the Gluon twin lets the parity checker
# hold one against the other. The course recorded no numbers for this run. `NB_BATCHES`
# (environment) sets the short run's batches.

# %%
import os
import sys

from modern_cnns.gluon_impl import batchnorm as gluon_bn
from modern_cnns.parity import notebook as nb
from modern_cnns.torch_impl import batchnorm as torch_bn
from modern_cnns.torch_impl import d2l_lazy
from modern_cnns.torch_impl import train as torch_train

NB_BATCHES = nb.batches(default=20)
print("kernel: Python", sys.version.split()[0], "from", os.path.basename(sys.prefix), "| training batches per run:",
      NB_BATCHES)

# %% [markdown]
# ## §8.5.3 Implementation from scratch: momentum on the new value
#
# `momentum_on_new=True` is d2l 1.0's `(1 - momentum) * old + momentum * new` with momentum
# 0.1; d2l 0.17 wrote 0.9 on the old value, the same update.

# %%
nb.side_by_side(torch_bn.batch_norm_d2l, gluon_bn.batch_norm_d2l, "the course (PyTorch)", "the Gluon twin")

# %% [markdown]
# ## §8.5.4 LeNet with batch normalization
#
# `model.apply_init([batch], d2l.init_cnn)` runs a forward, then `init_cnn`: Xavier reaches the
# weights. The port's layers have shapes from the start, so the experiment applies the same
# initialiser to them directly.

# %%
nb.side_by_side(d2l_lazy.apply_init, torch_train.init_cnn, "the course's apply_init", "the port's init_cnn")

# %%
log = nb.train_briefly("bn_lenet_d2l_v1", NB_BATCHES)

# %% [markdown]
# ## Parity

# %%
results = nb.parity(["bn_lenet_scratch_d2l_v1"])
assert all(r.passed for r in results)
