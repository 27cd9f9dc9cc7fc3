"""One zoo pair, checked in a process of its own: what a Ray task runs.

The task builds both models, finds how their tensors pair (by name; else the automatic map of
:func:`~parity.verdict.ports.suggest_map` when it is unambiguous; else registration order),
and runs :func:`~parity.verdict.ports.check_pair` on them as a user would: stock models, the
checker's own policy, with one convention accepted (:data:`ACCEPTED`).  Any Python error
becomes a record (``untransferable`` or ``error``); only the death of the process itself (out
of memory, a signal) escapes, and the engine records that as ``crashed``.
"""
from __future__ import annotations

import resource
import time

from modern_cnns.parity.zoo.sources import ZooPair, build

#: The one convention a zoo check accepts.  pytorchcv (and torchvision) keep stock torch BatchNorm
#: on purpose: it stores the unbiased batch variance where MXNet stores the biased one, so every such
#: port fails on its running statistics alone and that first line would hide everything else.
#: Accepted, only those statistics may differ: outputs, gradients and the weights after the SGD
#: steps are still held to the float64 tolerance, and the record says KNOWN DIFFERENCE and why
#: (``parity.verdict.known.CONVENTIONS``).  Any other difference still fails.
ACCEPTED = ("unbiased-running-var",)


def _peak_rss_gb() -> float:
    """This process's peak resident memory (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _pairing(block, module, pair: ZooPair, seed: int) -> tuple[str, dict]:
    """How the two trees' tensors pair: ``("by name", {})``, ``("automatic map", kwargs)`` or positional."""
    from modern_cnns.parity.verdict.ports import suggest_map
    from modern_cnns.parity.weights.transfer import TransferError, gluon_to_torch

    suggested = suggest_map(block, module, pair.input_shape, seed=seed)  # initialises Gluon, seeded
    tries = [("by name", {}),
             ("automatic map", {"name_map": suggested["map"]}) if not suggested["ambiguous"] else None,
             ("registration order", {"positional": True})]
    problems = []
    for label, kwargs in filter(None, tries):
        try:
            gluon_to_torch(block, module, zero_frozen=pair.zero_frozen, **kwargs)
            return label, kwargs
        except TransferError as err:
            problems.append(f"{label}: {len(err.problems)} problem(s), e.g. {err.problems[0]}")
    raise TransferError("gluon -> torch", problems)


def _record(pair: ZooPair, dtype: str, seed: int, version: str, **fields) -> dict:
    return {"source": pair.source, "pair": pair.name, "torch_name": pair.torch_name, "family": pair.family,
            "input_size": pair.input_size, "params": pair.params, "dtype": dtype, "seed": seed,
            "version": version, **fields}


def check_zoo_pair(pair: ZooPair, dtypes: tuple, seed: int, version: str, threads: int = 1) -> list[dict]:
    """One record per dtype for ``pair``: verdict, first divergence, diagnosis, worst rows, time, memory."""
    from modern_cnns.parity.frameworks import set_threads
    from modern_cnns.parity.verdict.ports import check_pair
    from modern_cnns.parity.weights.transfer import NameMapError, TransferError

    set_threads(threads)
    start = time.perf_counter()
    try:
        block, module = build(pair)
        pairing, kwargs = _pairing(block, module, pair, seed)
        results = check_pair(block, module, pair.input_shape, seed=seed, dtypes=dtypes, name=pair.name,
                             zero_frozen=pair.zero_frozen, accept=ACCEPTED, **kwargs)
    except (TransferError, NameMapError) as err:
        return [_record(pair, d, seed, version, verdict="untransferable", error=str(err).splitlines()[0],
                        detail=str(err)[:2000], seconds=time.perf_counter() - start, peak_gb=_peak_rss_gb())
                for d in dtypes]
    except Exception as err:  # a model that cannot be built or run: a result, not a lost task
        return [_record(pair, d, seed, version, verdict="error", error=f"{type(err).__name__}: {err}"[:500],
                        seconds=time.perf_counter() - start, peak_gb=_peak_rss_gb()) for d in dtypes]
    seconds, peak = time.perf_counter() - start, _peak_rss_gb()
    records = []
    for r in results:
        verdict = ("error" if r.error else "KNOWN DIFFERENCE" if r.known_difference and r.passed
                   else "PASS" if r.passed else "FAIL")
        failed = sorted((row for row in r.rows if not row.passed), key=lambda row: -row.max_rel)
        records.append(_record(pair, r.dtype, seed, version, verdict=verdict, pairing=pairing,
                               first_divergence=r.first_divergence, diagnosis=list(r.diagnosis), error=r.error,
                               known_difference=r.known_difference, failed_checks=len(failed),
                               checks=len(r.rows), worst=[(str(row.check), row.max_rel) for row in failed[:3]],
                               seconds=seconds, peak_gb=peak))
    return records
