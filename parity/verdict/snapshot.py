"""Everything a check may change in a user's two models, saved first and put back after.

:func:`~parity.verdict.ports.check_pair` borrows the models it is given: it casts them, moves
weights into the port, trains both for a few steps, switches torch between ``train()`` and
``eval()``.  A port passed in eval mode used to come back in train mode with every ``.grad``
set, so that its next "inference" moved its BatchNorm statistics.  :class:`ModelSnapshot`
keeps, per tensor, what identifies the model's state as the user sees it:

* torch: every parameter's values, dtype, device, ``requires_grad`` and ``.grad`` (None stays
  None; a set gradient keeps its value); every buffer; plain tensor attributes (the course's
  scratch BatchNorm keeps its moving statistics so); each submodule's ``.training``; each
  ``nn.Dropout``'s ``p``.
* Gluon: every parameter's values, dtype, context, ``grad_req`` and gradient buffers; plain
  NDArray attributes; each ``Dropout``'s rate.

Restoring writes the saved tensors back (``param.data = saved`` in torch: dtype and device come
back per tensor, so a model of mixed dtypes does too).
"""
from __future__ import annotations


class ModelSnapshot:
    """The state of a Gluon block and a torch module; :meth:`restore` puts both back."""

    def __init__(self, block, module):
        self.block, self.module = block, module
        self._torch = _TorchState(module)
        self._gluon = _GluonState(block)

    def restore(self) -> None:
        self._gluon.restore()
        self._torch.restore()


class _TorchState:
    def __init__(self, module):
        import torch
        from torch import nn

        self.params = [(p, p.detach().clone(), p.requires_grad, None if p.grad is None else p.grad.detach().clone())
                       for p in _unique(module.parameters())]
        self.buffers = [(mod, name, None if b is None else b.detach().clone())
                        for mod in module.modules() for name, b in mod._buffers.items()]
        self.attrs = [(mod, name, value.detach().clone()) for mod in module.modules()
                      for name, value in vars(mod).items()
                      if isinstance(value, torch.Tensor) and not name.startswith("_")]
        self.training = [(mod, mod.training) for mod in module.modules()]
        self.dropout = [(mod, mod.p) for mod in module.modules() if isinstance(mod, nn.Dropout)]

    def restore(self) -> None:
        for p, data, requires_grad, grad in self.params:
            p.data = data.clone()
            p.requires_grad_(requires_grad)
            p.grad = None if grad is None else grad.clone()
        for mod, name, value in self.buffers:
            mod._buffers[name] = None if value is None else value.clone()
        for mod, name, value in self.attrs:
            setattr(mod, name, value.clone())
        for mod, training in self.training:
            mod.training = training  # per module: train(mode) on the root would overwrite its children's
        for mod, p in self.dropout:
            mod.p = p


def _unique(params):
    seen = set()
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            yield p


class _GluonState:
    def __init__(self, block):
        from mxnet import nd
        from mxnet.gluon import nn

        from modern_cnns.parity.weights.state import walk_gluon

        params = list(_unique(block.collect_params().values()))
        self.block = block
        dtypes = {p.dtype for p in params if p._data is not None}
        self.dtype = dtypes.pop() if len(dtypes) == 1 else None  # one dtype: cast back the block as a whole
        nd.waitall()
        self.params = [(p, p.dtype, p.list_ctx(), p.grad_req, [d.copy() for d in p.list_data()],
                        [g.copy() for g in p.list_grad()] if p.grad_req != "null" else [])
                       for p in params if p._data is not None]
        blocks = [blk for _, blk in walk_gluon(block)]
        self.attrs = [(blk, name, value.copy()) for blk in blocks for name, value in vars(blk).items()
                      if isinstance(value, nd.NDArray) and not name.startswith("_")]
        self.dropout = [(blk, blk._rate) for blk in blocks if isinstance(blk, nn.Dropout)]

    def restore(self) -> None:
        from mxnet import nd

        if self.dtype is not None:
            self.block.cast(self.dtype)  # what Block.cast does besides the parameters (cached graphs) too
        for p, dtype, ctx, grad_req, data, grads in self.params:
            if p.dtype != dtype:
                p.cast(dtype)
            if p.list_ctx() != ctx:
                p.reset_ctx(ctx)
            p.grad_req = grad_req
            for target, value in zip(p.list_data(), data):
                target[:] = value
            for target, value in zip(p.list_grad() if grad_req != "null" else (), grads):
                target[:] = value
        for blk, name, value in self.attrs:
            setattr(blk, name, value.copy())
        for blk, rate in self.dropout:
            blk._rate = rate
        nd.waitall()
