# %% [markdown]
# # d2l 1.0 §8.7 Densely Connected Networks (DenseNet): the edition's code beside the port
#
# *Dive into Deep Learning* (d2l 1.0), §8.7: dense blocks (§8.7.2), transition layers that
# halve the channels (§8.7.3), the DenseNet (§8.7.4) and its training at 96x96, lr 0.01,
# batch 128, 10 epochs (§8.7.5). The course recorded no numbers for this run. `NB_BATCHES`
# (environment) sets the short run's batches, at batch 32 here to stay cheap.

# %%
import os
import sys

import torch

from modern_cnns.gluon_impl import densenet as gluon_densenet
from modern_cnns.parity import notebook as nb
from modern_cnns.torch_impl import d2l_lazy
from modern_cnns.torch_impl import densenet as torch_densenet

NB_BATCHES = nb.batches(default=2)
print("kernel: Python", sys.version.split()[0], "from", os.path.basename(sys.prefix), "| training batches per run:",
      NB_BATCHES)

# %% [markdown]
# ## §8.7.2-8.7.4 Dense blocks, transition layers, the model
#
# The port builds both editions' DenseNets; `halve_channels=True` is d2l's (gluonbook never
# halved `num_channels`).

# %%
nb.code({"the course (PyTorch, Lazy)": d2l_lazy.densenet, "the port (PyTorch)": torch_densenet.DenseNet,
         "the Gluon twin": gluon_densenet.DenseNet})

# %% [markdown]
# Like AlexNet's, the course's `DenseNet.__init__` applies `init_cnn` to Lazy layers, where its
# exact-type test matches nothing, and its training cell has no `apply_init`: the course
# trained DenseNet from PyTorch's default initialisation. Built twice from the same seed, with
# and without that call:

# %%
x = torch.zeros(1, 1, 96, 96)
states = []
for init in (d2l_lazy.init_cnn, None):
    torch.manual_seed(0)
    net = d2l_lazy.densenet(init=init)
    net(x)
    states.append(net.state_dict())
same = all(torch.equal(a, b) for a, b in zip(*(s.values() for s in states)))
print("init_cnn inside __init__ left every weight as PyTorch drew it:", same)
assert same

# %% [markdown]
# ## §8.7.5 Training
#
# The port keeps PyTorch's default draw (seeded) and the Gluon side starts from those very
# weights, copied by name.

# %%
log = nb.train_briefly("densenet_d2l", NB_BATCHES, batch_size=32)

# %% [markdown]
# ## Parity

# %%
results = nb.parity(["densenet_d2l"])
assert all(r.passed for r in results)
