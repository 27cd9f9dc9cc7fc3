# %% [markdown]
# # d2l 1.0 §8.2 Networks Using Blocks (VGG): the edition's code beside the port
#
# *Dive into Deep Learning* (d2l 1.0), §8.2: `vgg_block` and the VGG family (§8.2.1-8.2.2),
# and the narrower VGG-11 the section trains, arch ((1,16),(1,32),(2,64),(2,128),(2,128)), at
# lr 0.01, batch 128, 10 epochs (§8.2.3). Its cell calls `model.apply_init([batch],
# d2l.init_cnn)`, so Xavier reaches its weights. The course recorded no numbers for this run.
# `NB_BATCHES` (environment) sets the short run's batches, at batch 16 here to stay cheap.

# %%
import os
import sys

from modern_cnns.gluon_impl import vgg as gluon_vgg
from modern_cnns.parity import notebook as nb
from modern_cnns.torch_impl import d2l_lazy
from modern_cnns.torch_impl import vgg as torch_vgg

NB_BATCHES = nb.batches(default=4)
print("kernel: Python", sys.version.split()[0], "from", os.path.basename(sys.prefix), "| training batches per run:",
      NB_BATCHES)

# %% [markdown]
# ## §8.2.1 VGG blocks and §8.2.2 the VGG network

# %%
nb.code({"the course (PyTorch, Lazy)": d2l_lazy.vgg_small, "the port (PyTorch)": torch_vgg.vgg_block,
         "the Gluon twin": gluon_vgg.vgg_block})
nb.side_by_side(gluon_vgg.VGG, torch_vgg.VGG, "the Gluon twin", "the port (PyTorch)")

# %% [markdown]
# ## §8.2.3 Training

# %%
nb.summaries("vgg_small")

# %%
log = nb.train_briefly("vgg_small", NB_BATCHES, batch_size=16)

# %% [markdown]
# ## Parity
#
# The small VGG the section trains (VGG-11 itself, `vgg11`, takes about 9 GB for the check:
# `python -m parity check vgg11`).

# %%
results = nb.parity(["vgg_small"])
assert all(r.passed for r in results)
