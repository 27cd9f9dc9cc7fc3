# %% [markdown]
# # d2l 1.0 §8.3 Network in Network (NiN): the edition's code beside the port
#
# *Dive into Deep Learning* (d2l 1.0), §8.3: `nin_block` (§8.3.1), the NiN model with global
# average pooling and no dense layer (§8.3.2), trained at lr 0.05, batch 128, 10 epochs, its
# weights set by `init_cnn` through `apply_init` (§8.3.3). The course recorded no numbers for
# this run. `NB_BATCHES` (environment) sets the short run's batches, at batch 16 here.

# %%
import os
import sys

from modern_cnns.gluon_impl import nin as gluon_nin
from modern_cnns.parity import notebook as nb
from modern_cnns.torch_impl import nin as torch_nin

NB_BATCHES = nb.batches(default=4)
print("kernel: Python", sys.version.split()[0], "from", os.path.basename(sys.prefix), "| training batches per run:",
      NB_BATCHES)

# %% [markdown]
# ## §8.3.1 NiN blocks and §8.3.2 the NiN model

# %%
nb.side_by_side(gluon_nin.nin_block, torch_nin.nin_block, "the Gluon twin", "the port (PyTorch)")
nb.side_by_side(gluon_nin.NiN, torch_nin.NiN, "the Gluon twin", "the port (PyTorch)")

# %% [markdown]
# ## §8.3.3 Training

# %%
nb.summaries("nin")

# %%
log = nb.train_briefly("nin", NB_BATCHES, batch_size=16)

# %% [markdown]
# ## Parity

# %%
results = nb.parity(["nin"])
assert all(r.passed for r in results)
