"""Ray as the zoo's engine: one task per pair, scheduled by the CPUs and memory it declares.

* ``ray.init()`` starts Ray on this machine (CPUs = this process's cores); ``address``
  (``"auto"`` or ``HOST:PORT``) joins a running cluster instead.
* Each task declares one CPU and the memory :func:`~parity.zoo.memory.estimate` gives its pair, so Ray never
  runs side by side more pairs than fit; a pair that needs more than the largest node offers is
  recorded ``skipped`` with both figures, not left pending forever.
* Each task runs in a fresh worker process (``max_calls=1``): peak memory is that pair's own, and
  nothing one zoo model leaves behind (a global, a leaked thread) reaches the next.
* A worker that dies (the kernel's out-of-memory killer, ``kill -9``) is retried once (``max_retries``); one
  that Ray's memory monitor kills is retried up to ``OOM_RETRIES`` times (Ray's own default retries it forever,
  so a pair larger than it declared would hang the run); if it dies again the pair is recorded
  ``crashed: <reason>``, and ``--retry-crashed`` runs it again.
* Results are written to the store as each pair finishes; Ctrl-C cancels what is running and
  leaves the store holding every finished pair, so the same command resumes.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from dataclasses import dataclass, field

from modern_cnns.parity.zoo.memory import GB, estimate
from modern_cnns.parity.zoo.sources import ZooPair
from modern_cnns.parity.zoo.store import Store
from modern_cnns.parity.zoo.task import _record, check_zoo_pair

#: system failures (a dead worker) retried before a pair is recorded as crashed
MAX_RETRIES = 1
#: kills by Ray's memory monitor retried before a pair is recorded as crashed.  The monitor kills the task that
#: started last, not always the one that grew (in the ImageNet-size run, inceptionv4 was killed 3 times beside
#: ntsnet_cub, which used twice what it declared): a bystander's retry runs once the other is gone, with Ray's
#: growing delay between tries.  Ray 2.60 retries these without end by default (measured: a task the monitor
#: always kills was still pending after 60 s; with ``RAY_task_oom_retries=1``, ``OutOfMemoryError`` came after
#: 4 s).  The task's owner, this driver, counts them.
OOM_RETRIES = 4
#: The object store of a Ray started here.  A task's argument and its records are a few kB; Ray's default
#: store (30 % of the machine's memory: 6.9 GiB of 24 GB here) is subtracted from the memory tasks may
#: declare, so a 224x224 VGG (declared ~19 GB) would be skipped as too large for the node.
OBJECT_STORE_BYTES = 500 * 1000 ** 2


class ClusterError(RuntimeError):
    """The Ray cluster named by ``--address`` cannot be joined; says why and what to do."""


@dataclass
class Progress:
    """What the driver has seen so far, for the bar and the summary."""
    total: int
    pairs_done: int = 0
    counts: dict = field(default_factory=dict)   # records per verdict
    lost: list = field(default_factory=list)     # (pair, reason): tasks the cluster lost, recorded nothing

    def add(self, records) -> None:
        self.pairs_done += 1
        for r in records:
            self.counts[r["verdict"]] = self.counts.get(r["verdict"], 0) + 1

    def line(self) -> str:
        return ", ".join(f"{v} {n}" for v, n in sorted(self.counts.items())) or "nothing yet"


def _on_a_node(pair: ZooPair, dtypes: tuple, seed: int, version: str) -> list[dict]:
    """The task: :func:`check_zoo_pair`, each record saying which Ray node ran it."""
    import socket

    import ray

    node = f"{socket.gethostname()}:{ray.get_runtime_context().get_node_id()[:8]}"
    return [{**r, "node": node} for r in check_zoo_pair(pair, dtypes, seed, version)]


#: what a crashed record says of a worker that died: Ray does not say how (which signal; the kernel's OOM killer)
WORKER_DIED = "the worker process died (killed by a signal, or out of memory)"


def _the_pairs_own(err) -> bool:
    """Whether a failed task says something about its pair: its worker died (a signal, the out-of-memory
    killer) or Ray's memory monitor killed it.  A raylet or node that died, or any other system error, is the
    cluster's failure: recorded, it would count as done and never be checked again."""
    import ray.exceptions as rex

    return isinstance(err, (rex.OutOfMemoryError, rex.WorkerCrashedError))


def _crash_reason(err) -> str:
    import ray.exceptions as rex

    if isinstance(err, rex.OutOfMemoryError):
        return "out of memory (Ray's memory monitor killed the worker)"
    if isinstance(err, rex.WorkerCrashedError):
        return WORKER_DIED
    if isinstance(err, rex.TaskCancelledError):
        return "cancelled"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` nobody listens on (``ray.init`` would keep retrying for minutes)."""
    import socket

    if address == "auto" or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as err:
        raise ClusterError(f"cannot join a Ray cluster at {address}: nothing answers there ({err}); start one with "
                           "`ray start --head` and pass the address it prints") from None


@contextlib.contextmanager
def _oom_retries_bounded():
    """``RAY_task_oom_retries`` set to ``OOM_RETRIES`` while Ray starts here or is joined (this driver's Ray reads
    it then, and a Ray started here passes it on); a value the user set stands, and none is left behind."""
    ours = "RAY_task_oom_retries" not in os.environ
    if ours:
        os.environ["RAY_task_oom_retries"] = str(OOM_RETRIES)
    try:
        yield
    finally:
        if ours:
            os.environ.pop("RAY_task_oom_retries", None)


def _connect(address, num_cpus):
    with _oom_retries_bounded():
        return _init(address, num_cpus)


def _init(address, num_cpus):
    import ray
    import ray.exceptions

    from modern_cnns.parity.frameworks import cores

    if address:
        _reachable(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except ray.exceptions.AuthenticationError:
            raise ClusterError(f"the Ray cluster at {address} uses token authentication: set RAY_AUTH_MODE=token "
                               "here (the token is read from RAY_AUTH_TOKEN or ~/.ray/auth_token)") from None
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise ClusterError(f"cannot join a Ray cluster at {address}: {str(err).splitlines()[0]}") from None
    else:
        # "local": a new Ray here, even where RAY_ADDRESS names a cluster (ray.init would join it, and refuse num_cpus)
        ray.init(address="local", num_cpus=num_cpus or cores(), object_store_memory=OBJECT_STORE_BYTES,
                 include_dashboard=False, log_to_driver=False)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return max((n["Resources"].get("memory", 0) for n in nodes), default=0)


def run(pairs: list[ZooPair], store: Store, *, dtypes=("float32", "float64"), seed: int = 0, version: str,
        address: str | None = None, num_cpus: int | None = None, measured: dict | None = None,
        outputs: dict | None = None, show_progress: bool = True) -> Progress:
    """Check ``pairs`` on Ray, appending each pair's records to ``store`` as it finishes.

    ``measured`` (``{pair: peak GB}``) and ``outputs`` (``{pair: layer output elements}``) size what each
    task declares (:func:`~parity.zoo.memory.estimate`).

    Raises KeyboardInterrupt after cancelling the running tasks (the store is consistent).
    """
    import ray

    progress = Progress(total=len(pairs))
    if not pairs:
        return progress
    sigterm = signal.getsignal(signal.SIGTERM)
    largest_node = _connect(address, num_cpus)
    if threading.current_thread() is threading.main_thread():
        # ray.init() replaces the SIGTERM handler with its own (sys.exit, nothing cancelled, no report):
        # the caller's comes back (the zoo command's stops the run as Ctrl-C does)
        signal.signal(signal.SIGTERM, sigterm)
    remote = ray.remote(num_cpus=1, max_calls=1, max_retries=MAX_RETRIES, retry_exceptions=False)(_on_a_node)
    pending = {}
    needs = {pair.name: estimate(pair, (measured or {}).get(pair.name), (outputs or {}).get(pair.name))
             for pair in pairs}
    # the smallest first (what a task declares grows with its weights and its layers' outputs, as its time
    # does): a run stopped early has checked the most pairs
    for pair in sorted(pairs, key=lambda p: needs[p.name]):
        need = needs[pair.name]
        if need > largest_node:
            records = [_record(pair, d, seed, version, verdict="skipped",
                               error=f"needs ~{need / GB:.1f} GB, the largest node offers {largest_node / GB:.1f} GB",
                               declared_bytes=need) for d in dtypes]
            store.append(records)
            progress.add(records)
            continue
        ref = remote.options(memory=need).remote(pair, tuple(dtypes), seed, version)
        pending[ref] = (pair, need)
    bar = _bar(len(pairs), progress, show_progress)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                pair, need = pending.pop(ref)
                try:
                    records = ray.get(ref)
                except Exception as err:  # the task failed after its retries: the pair's crash, or the cluster's
                    if not _the_pairs_own(err):
                        progress.lost.append((pair, _crash_reason(err)))
                        bar.update(1)
                        continue
                    records = [_record(pair, d, seed, version, verdict="crashed", error=_crash_reason(err))
                               for d in dtypes]
                for r in records:
                    r["declared_bytes"] = need
                store.append(records)
                progress.add(records)
                bar.update(1)
                bar.set_postfix_str(progress.line())
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        bar.close()
        ray.shutdown()
    return progress


def _bar(total, progress, show):
    from tqdm import tqdm

    bar = tqdm(total=total, unit="pair", file=sys.stderr, disable=not show, dynamic_ncols=True)
    bar.update(progress.pairs_done)  # pairs recorded up front (skipped)
    return bar
