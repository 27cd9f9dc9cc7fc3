"""Whole model zoos, verified pair by pair on Ray: ``python -m parity zoo SOURCE``.

A *source* is two zoos that publish the same architectures under matching names
(:mod:`.sources`): gluoncv2 0.0.64 and pytorchcv 0.0.74, the same author's mirrored Gluon and
PyTorch zoos, and a curated table of gluoncv 0.10.5 <-> torchvision 0.28 architectures.  Each
pair is checked in a task of its own (:mod:`.task`) under exactly the policy of
:func:`~parity.verdict.ports.check_pair`; Ray schedules the tasks by the CPUs and memory they
declare, on this machine or a cluster (:mod:`.engine`); every result is one line of an
append-only store that a re-run resumes from (:mod:`.store`); ``docs/ZOO.md`` is rendered from
the stores (:mod:`.report`).
"""
