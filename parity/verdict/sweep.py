"""The parity check over many networks: in this process, or in worker processes (``check --jobs N``).

Workers are *spawned*, not forked: MXNet's engine threads do not survive a fork.
Each worker gets ``cores // jobs`` threads for MXNet's OpenMP loops and for
torch's intra-op pool, so the sweep never runs more threads than there are
cores.  Networks are handed out largest input first (the 224x224 ones take most
of the time), and results come back in the order the networks were asked for,
so the progress and the report read the same as a serial run's.  Each network's
check is seeded and runs in one process, so a parallel run gives the same
verdicts as a serial one (``test_parallel_sweep_matches_serial``).
"""
from __future__ import annotations

import math
import os
from typing import Callable, Iterator

from modern_cnns.parity.catalog import registry
from modern_cnns.parity.frameworks import cores, threads_per_job
from modern_cnns.parity.verdict.policy import settings_for

#: memory one job may need: VGG-11's check peaks at 11.2 GB (float64 weights, gradients and the
#: state after K steps, in both frameworks); every other network needs far less, and the largest
#: runs first, so two jobs fit in ~20 GB (measured on 24 GB: 2 jobs fine on an idle machine,
#: OOM-killed beside a test process holding several GB)
GB_PER_JOB = 10


def available_gb() -> float:
    """``MemAvailable`` from /proc/meminfo, in GB (inf where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return float("inf")


def default_jobs() -> int:
    """One job per core, as far as memory allows (``GB_PER_JOB`` each), at least one."""
    by_memory = available_gb() // GB_PER_JOB
    return int(max(1, min(cores(), by_memory)))


def _largest_first(names):
    def cost(name):
        entry = registry.get(name)
        return math.prod(entry.input_shape) * settings_for(name).batch_size
    return sorted(names, key=cost, reverse=True)


def _init_worker(threads: int) -> None:
    # read by MXNet (and its OpenMP runtime) when it loads, which happens in the first task
    os.environ["MXNET_OMP_MAX_THREADS"] = str(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


def _check_in_worker(name, threads, **options):
    from modern_cnns.parity.frameworks import set_threads
    from modern_cnns.parity.verdict.check import check_network

    set_threads(threads)
    return check_network(registry.get(name), **options)


def sweep(names: list[str], jobs: int = 1, **options) -> Iterator[list]:
    """Check each network; yield its list of :class:`parity.verdict.check.Result`, in the order of ``names``.

    With ``jobs > 1`` the workers are spawned: a script calling this must guard its own work with
    ``if __name__ == "__main__":``, as every ``multiprocessing`` program must.

    Args:
        names: registry names.
        jobs: worker processes; 1 runs everything in this process.
        **options: passed to :func:`parity.verdict.check.check_network` (device, dtypes, steps, batch_size, seed).
    """
    if jobs <= 1 or len(names) <= 1:
        from modern_cnns.parity.verdict.check import check_network

        for name in names:
            yield check_network(registry.get(name), **options)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    jobs = min(jobs, len(names))
    threads = threads_per_job(jobs)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(threads,)) as pool:
        futures = {name: pool.submit(_check_in_worker, name, threads, **options) for name in _largest_first(names)}
        for name in names:  # in order: wait for the next one even if later ones are done
            yield futures[name].result()


def run_sweep(names: list[str], jobs: int, on_results: Callable[[list], None], **options) -> list:
    """:func:`sweep`, calling ``on_results`` with each network's results as soon as they are in order."""
    results = []
    for network_results in sweep(names, jobs, **options):
        on_results(network_results)
        results.extend(network_results)
    return results
