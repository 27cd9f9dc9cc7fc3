# %% [markdown]
# # gluonbook §5.12 Residual Networks (ResNet): the course's Gluon code beside the PyTorch port
#
# *Dive into Deep Learning*, MXNet edition (gluonbook), §5.12: the `Residual` block (§5.12.1),
# the ResNet with three residuals per stage on 28x28 inputs (§5.12.2) and its training at
# lr 0.05 (§5.12.3). The course's recorded outputs (block shapes, the layer printout, two
# epochs) come from `data/reference/`; the 2-epoch run of both frameworks is committed in
# `docs/runs/resnet/`. `NB_BATCHES` (environment) sets the training batches of the short run.

# %%
import os
import sys

import torch
from mxnet import nd

from modern_cnns.gluon_impl import resnet as gluon_resnet
from modern_cnns.parity import notebook as nb
from modern_cnns.torch_impl import resnet as torch_resnet

NB_BATCHES = nb.batches(default=4)
print("kernel: Python", sys.version.split()[0], "from", os.path.basename(sys.prefix), "| training batches per run:",
      NB_BATCHES)

# %% [markdown]
# ## §5.12.1 Residual blocks

# %%
nb.side_by_side(gluon_resnet.Residual, torch_resnet.Residual)

# %% [markdown]
# The course's two examples: a block keeping the input's shape, and one halving height and
# width with a 1x1 convolution on the shortcut, on a `(4, 3, 6, 6)` input.

# %%
course = nb.course_shapes("residual")
X = nd.random.uniform(shape=course["input"])
ours = {}
for label, kwargs in [("same_shape", dict(num_channels=3)),
                      ("halved_with_1x1conv", dict(num_channels=6, use_1x1conv=True, strides=2))]:
    blk = gluon_resnet.Residual(**kwargs)
    blk.initialize()
    port = torch_resnet.Residual(**kwargs, in_channels=3)
    ours[label] = (blk(X).shape, tuple(port(torch.rand(*course["input"])).shape))
nb.columns({"Gluon, the port": "\n".join(f"{k}: {g}, {t}" for k, (g, t) in ours.items()),
            "the course, as recorded": "\n".join(f"{k}: {tuple(course[k])}" for k in ours)})
assert all(g == t == tuple(course[k]) for k, (g, t) in ours.items())

# %% [markdown]
# ## §5.12.2 ResNet model
#
# The network, then its layer output shapes on a 1x1x28x28 input in both frameworks, beside
# the course's printout (whose layer names carry the notebook's global counters, `conv52` for
# our `conv0`).

# %%
nb.side_by_side(gluon_resnet.resnet, torch_resnet.resnet)

# %%
nb.summaries("resnet", "gluonbook_resnet_shapes.txt")

# %% [markdown]
# ## §5.12.3 Data acquisition and training
#
# A short run of `train_ch5` (lr 0.05, batch 256) in Gluon and of its port, beside the
# course's two recorded epochs. An epoch here takes about 20 minutes per framework on two
# cores; `docs/runs/resnet/` holds the full two epochs.

# %%
log = nb.train_briefly("resnet", NB_BATCHES)

# %% [markdown]
# ## Parity
#
# Gluon's weights copied into the port; predictions, training outputs, every gradient and the
# state after an SGD step compared in float64.

# %%
results = nb.parity(["resnet"])
assert all(r.passed for r in results)
