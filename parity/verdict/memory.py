"""Allocation failures of either framework, recognised and reported as one kind: not enough memory.

numpy raises ``MemoryError``; torch a ``RuntimeError`` (``DefaultCPUAllocator: can't allocate
memory``) or ``torch.OutOfMemoryError`` (CUDA); MXNet an ``MXNetError`` (``Failed to allocate
CPU Memory``), with a C++ stack trace for a message.  Inside a check these used to be caught as
"the pair raised" and reported as a parity FAIL of a correct port; elsewhere they were
tracebacks.  The checker re-raises them as :class:`NotEnoughMemory`, which the command line
prints as ``error: not enough memory (...)`` with exit code 1.
"""
from __future__ import annotations

import sys

#: fragments of the frameworks' allocation-failure messages (torch CPU and CUDA, MXNet CPU and GPU)
_MESSAGES = ("DefaultCPUAllocator: can't allocate memory", "CUDA out of memory", "Failed to allocate CPU Memory",
             "Failed to allocate GPU Memory", "cudaMalloc retry failed", "out of memory")


class NotEnoughMemory(MemoryError):
    """A framework could not allocate a tensor; the message is the framework's own, on one line."""


def is_memory_error(err: BaseException) -> bool:
    """Is ``err`` an allocation failure of numpy, torch or MXNet?"""
    if isinstance(err, MemoryError):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(err, getattr(torch, "OutOfMemoryError", ())):
        return True
    mx = sys.modules.get("mxnet")
    framework_error = isinstance(err, RuntimeError) or (mx is not None and isinstance(err, mx.base.MXNetError))
    return framework_error and any(m in str(err) for m in _MESSAGES)


def summary(err: BaseException) -> str:
    """The line of the framework's message that names the failure (MXNet's is the last of a stack)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        found = [line.index(m) for m in _MESSAGES if m in line]
        if found:  # from the framework's words on: torch prefixes "[enforce fail at alloc_cpu.cpp:127] err == 0."
            return line[min(found):]
    return lines[-1] if lines else type(err).__name__


def reraise_if_memory(err: BaseException) -> None:
    """Raise :class:`NotEnoughMemory` in place of ``err`` if it is an allocation failure; else return."""
    if isinstance(err, NotEnoughMemory):
        raise err
    if is_memory_error(err):
        raise NotEnoughMemory(summary(err)) from None
