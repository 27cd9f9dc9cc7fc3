# %% [markdown]
# # d2l 1.0 §8.1 Deep Convolutional Neural Networks (AlexNet): the edition's code beside the port
#
# *Dive into Deep Learning* (d2l 1.0), §8.1: AlexNet for 224x224 Fashion-MNIST (§8.1.2) and
# its training at lr 0.01, batch 128, 10 epochs (§8.1.3). The course's code is PyTorch with
# Lazy layers; the port (plain layers, Gluon's argument names) and its Gluon twin are what the
# parity checker holds against each other. The course recorded no numbers for this run.
# `NB_BATCHES` (environment) sets the short run's batches, at batch 16 here to stay cheap.

# %%
import os
import sys

import torch

from modern_cnns.gluon_impl import alexnet as gluon_alexnet
from modern_cnns.parity import notebook as nb
from modern_cnns.torch_impl import alexnet as torch_alexnet
from modern_cnns.torch_impl import d2l_lazy

NB_BATCHES = nb.batches(default=4)
print("kernel: Python", sys.version.split()[0], "from", os.path.basename(sys.prefix), "| training batches per run:",
      NB_BATCHES)

# %% [markdown]
# ## §8.1.2 AlexNet

# %%
nb.code({"the course (PyTorch, Lazy)": d2l_lazy.alexnet, "the port (PyTorch)": torch_alexnet.AlexNet,
         "the Gluon twin": gluon_alexnet.AlexNet})

# %% [markdown]
# The course's `AlexNet.__init__` ends with `self.net.apply(d2l.init_cnn)`. `init_cnn` tests
# `type(module) == nn.Conv2d`, and a `LazyConv2d` is not one until its first forward: the call
# changes nothing, and the training cell has no `apply_init`. So the course trained AlexNet
# from PyTorch's default initialisation. Built twice from the same seed, with and without that
# call, the two networks hold the same weights:

# %%
x = torch.zeros(1, 1, 224, 224)
torch.manual_seed(0)
as_the_course = d2l_lazy.alexnet()
as_the_course(x)
torch.manual_seed(0)
never_initialised = d2l_lazy.alexnet(init=None)
never_initialised(x)
same = all(torch.equal(a, b) for a, b in zip(as_the_course.state_dict().values(),
                                              never_initialised.state_dict().values()))
print("init_cnn inside __init__ left every weight as PyTorch drew it:", same)
assert same

# %% [markdown]
# The experiment here does the same: the port keeps PyTorch's default draw (seeded), and the
# Gluon side starts from those very weights, copied by name (`docs/DEVIATIONS.md`).
#
# ## §8.1.3 Training

# %%
nb.summaries("alexnet")

# %%
log = nb.train_briefly("alexnet", NB_BATCHES, batch_size=16)

# %% [markdown]
# ## Parity

# %%
results = nb.parity(["alexnet"])
assert all(r.passed for r in results)
