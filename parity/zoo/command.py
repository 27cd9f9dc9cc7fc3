"""``python -m parity zoo SOURCE``: enumerate, filter, skip what is done, run on Ray, summarise, report."""
from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modern_cnns.parity.zoo import engine, memory, report, sources
from modern_cnns.parity.zoo.families import architecture_of, choose, family_of
from modern_cnns.parity.zoo.store import Store, code_version


@contextmanager
def _stopped_by_signals() -> Iterator[list]:
    """SIGINT and SIGTERM stop a run as Ctrl-C does: the running tasks cancelled, the store whole, ``--markdown``
    written, exit 128 + the signal's number.  A run of hours is started in the background (a shell's ``cmd &``
    starts it with SIGINT ignored) and stopped with ``kill`` (SIGTERM): before, the first could not stop it at
    all and the second killed the driver outright, its report unwritten.  The previous handlers come back after.

    Yields the list the signals received are appended to (the KeyboardInterrupt raised for one may reach the
    command as another instance: Ray's calls re-raise it)."""
    received: list = []

    def stop(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    try:
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (an embedding application's): leave its signals alone
        yield received
        return
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(args) -> int:
    """The ``zoo`` command; returns the exit code (0 all checked pairs passed, 1 any did not, 130 Ctrl-C or
    SIGINT, 143 SIGTERM)."""
    with _stopped_by_signals() as received:
        return _run(args, received)


def _run(args, received: list) -> int:
    offered = sources.enumerate_pairs(args.source, args.store, args.match)
    chosen = choose(offered, args.min_input, args.max_input, args.per_family, args.limit)
    store = Store(args.store, args.source)
    version = code_version()
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    done = store.done(version)
    latest = store.latest()
    todo = [p for p in chosen if args.retry_crashed and any(
                latest.get((p.name, d, args.seed), {}).get("verdict") == "crashed" for d in dtypes)
            or not all((p.name, d, args.seed) in done for d in dtypes)]
    print(f"{args.source}: {sources.count_offered(args.source)} pairs offered, {len(chosen)} selected, "
          f"{len(chosen) - len(todo)} already in {store.path} (code version {version}), {len(todo)} to check")
    if args.list:
        for p in chosen:
            print(f"  {p.name:40s} {p.input_size:4d}px  {p.params:>12,} params  torch: {p.torch_name}")
        return 0
    try:
        measured = measured_peaks(latest.values(), todo)
        outputs = _count_outputs([p for p in todo if p.name not in measured])
        progress = engine.run(todo, store, dtypes=dtypes, seed=args.seed, version=version, address=args.address,
                              num_cpus=args.cpus, measured=measured, outputs=outputs)
    except KeyboardInterrupt:
        print(f"\nstopped: every finished pair is in {store.path}; run the same command to resume",
              file=sys.stderr)
        if args.markdown:  # the report of what finished: a stopped run's results are worth reading too
            try:
                _write_markdown(args, describe=False)
            except KeyboardInterrupt:  # a second Ctrl-C: stop now; the old report stays whole (atomic write)
                print(f"stopped again: {args.markdown} not written", file=sys.stderr)
        return 128 + (received[0] if received else signal.SIGINT)
    print(f"checked {progress.pairs_done} pair{'s' * (progress.pairs_done != 1)}: {progress.line()}"
          if todo else "nothing to check: every selected pair is in the store")
    if progress.lost:
        print(f"not recorded: {len(progress.lost)} pair(s) whose task the Ray cluster lost, not the pair "
              f"({progress.lost[0][1]}); run the same command to check them", file=sys.stderr)
    latest = store.latest()
    mine = [latest[(p.name, d, args.seed)] for p in chosen for d in dtypes if (p.name, d, args.seed) in latest]
    failed = [r for r in mine if r["verdict"] not in ("PASS", "KNOWN DIFFERENCE")]
    print(f"selected pairs in the store: {len(mine)} records, {len(mine) - len(failed)} passed"
          + (f", {len(failed)} did not (see {args.markdown or 'the store'})" if failed else ""))
    if args.markdown:
        _write_markdown(args)
    return 1 if failed or progress.lost else 0


def measured_peaks(records, pairs) -> dict:
    """``{pair: peak GB}`` a task declares 1.25x of (:func:`memory.estimate`): the pair's own peak from
    an earlier run, else the largest of the same architecture on another dataset (``resnet110_svhn`` for
    ``resnet110_cifar10``).  The formula alone lay far under deep networks' peaks (densenet250_k24_bc_cifar100:
    11.2 GB against 2.1 declared); the 251 small gluoncv2 pairs are 84 architectures, so after one run of each
    the other two of three declare what was measured."""
    own = {r["pair"]: r["peak_gb"] for r in records if r.get("peak_gb")}
    by_architecture: dict = {}
    for name, peak in own.items():
        architecture = architecture_of(name)
        by_architecture[architecture] = max(by_architecture.get(architecture, 0.0), peak)
    found = {p.name: own.get(p.name) or by_architecture.get(architecture_of(p.name)) for p in pairs}
    return {name: peak for name, peak in found.items() if peak}


def _count_outputs(pairs) -> dict:
    """``{pair: layer output elements}`` of the pairs never run here, for the memory their tasks declare."""
    if not pairs:
        return {}
    print(f"sizing {len(pairs)} model(s) never run here (their layers' outputs, counted on torch's meta device)")
    counted = {p.name: memory.output_elements(p) for p in pairs}
    unsized = [name for name, n in counted.items() if not n]
    if unsized:
        print(f"  {len(unsized)} cannot run on meta and declare by their parameters alone: {', '.join(unsized[:5])}"
              + (", ..." if len(unsized) > 5 else ""))
    return {name: n for name, n in counted.items() if n}


def _write_markdown(args, describe: bool = True) -> None:
    """Render the report of every source in the store (not only this run's selection) to ``--markdown``.

    ``describe=False`` (after Ctrl-C): no model is built for the counts; a source whose pairs are not all
    described yet gets its results without the counts ("? pairs found").
    """
    from modern_cnns.parity.frameworks import cores
    from modern_cnns.parity.weights.checkpoint import atomic_write

    stored = [s for s in sources.SOURCES if Store(args.store, s).path.exists()]
    offered_all: dict[str, list | None]
    if describe:
        print("describing every pair offered, for the report's counts (kept in the store's index)")
        offered_all = {s: sources.enumerate_pairs(s, args.store) for s in stored}
    else:
        offered_all = {s: sources.described(s, args.store) for s in stored}
    families = {s: {p.name: family_of(p) for p in pairs} for s, pairs in offered_all.items() if pairs is not None}
    text = report.render(args.store, offered_all, cores(), version=code_version(), families=families)
    atomic_write(args.markdown, lambda tmp: Path(tmp).write_text(text))
    print(f"wrote {args.markdown}")
