# %% [markdown]
# # gluonbook §5.13 Densely Connected Networks (DenseNet): the course's Gluon code beside the port
#
# *Dive into Deep Learning*, MXNet edition (gluonbook), §5.13: dense blocks (§5.13.1),
# transition layers (§5.13.2), the DenseNet (§5.13.3) and its training at 96x96, lr 0.1
# (§5.13.4). Two course quirks are kept: `DenseBlock` printed every shape it saw (here behind
# `verbose=True`), and the loop never halves `num_channels`, so the transitions output 96, 160
# and 224 channels. `NB_BATCHES` (environment) sets the training batches of the short run.

# %%
import contextlib
import io
import os
import sys

import torch
from mxnet import nd

from modern_cnns.gluon_impl import densenet as gluon_densenet
from modern_cnns.parity import notebook as nb
from modern_cnns.torch_impl import densenet as torch_densenet

NB_BATCHES = nb.batches(default=2)
print("kernel: Python", sys.version.split()[0], "from", os.path.basename(sys.prefix), "| training batches per run:",
      NB_BATCHES)

# %% [markdown]
# ## §5.13.1 Dense blocks and §5.13.2 transition layers

# %%
nb.side_by_side(gluon_densenet.conv_block, torch_densenet.conv_block)
nb.side_by_side(gluon_densenet.DenseBlock, torch_densenet.DenseBlock)
nb.side_by_side(gluon_densenet.transition_block, torch_densenet.transition_block)

# %% [markdown]
# The course's examples: `DenseBlock(2, 10)` on a `(4, 3, 8, 8)` input, then
# `transition_block(10)` on its output.

# %%
course = {k: nb.course_shapes(k) for k in ("dense_block", "transition_block")}
blk, trans = gluon_densenet.DenseBlock(2, 10), gluon_densenet.transition_block(10)
blk.initialize()
trans.initialize()
Y = blk(nd.random.uniform(shape=course["dense_block"]["input"]))
port_blk = torch_densenet.DenseBlock(2, 10, in_channels=3)
port_Y = port_blk(torch.rand(*course["dense_block"]["input"]))
port_T = torch_densenet.transition_block(10, in_channels=23)(port_Y)
nb.columns({"Gluon": f"{Y.shape}\n{trans(Y).shape}", "the port": f"{tuple(port_Y.shape)}\n{tuple(port_T.shape)}",
            "the course, as recorded": f"{tuple(course['dense_block']['output'])}\n"
                                       f"{tuple(course['transition_block']['output'])}"})

# %% [markdown]
# ## §5.13.3 DenseNet model
#
# The network, then the course's training log of shapes (printed by every `DenseBlock`, batch
# 256) beside ours (a batch of 2 through the Gluon network with `verbose=True`).

# %%
nb.side_by_side(gluon_densenet.DenseNet, torch_densenet.DenseNet)

# %%
net = gluon_densenet.DenseNet(verbose=True)
net.initialize()
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    net(nd.random.uniform(shape=(2, 1, 96, 96)))
nb.columns({"Gluon, a batch of 2": printed.getvalue(),
            "the course, batch 256": nb.recorded("gluonbook_densenet_log.txt")})

# %% [markdown]
# ## §5.13.4 Data acquisition and training
#
# A short run of `train_ch5` (lr 0.1, batch 256, 96x96) in Gluon and of its port; the course
# recorded no numbers for this run.

# %%
log = nb.train_briefly("densenet", NB_BATCHES)

# %% [markdown]
# ## Parity

# %%
results = nb.parity(["densenet"])
assert all(r.passed for r in results)
