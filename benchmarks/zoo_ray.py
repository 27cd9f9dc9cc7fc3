"""The zoo on Ray, measured (prints; asserts nothing).

    .venv/bin/python benchmarks/zoo_ray.py [--startup-only] [--pairs GLOB] [--limit N]

1. Ray's fixed cost: ``import ray``, ``ray.init()`` on this machine, one trivial task, and
   ``ray.shutdown()``, three times.  This decides whether ``check``'s default sweep (40-50 s)
   would run on Ray: only if this costs under 10 % of it.
2. The same zoo pairs (default: the first 6 gluoncv2:pytorchcv pairs at 32x32) on Ray with one
   task per core, and one after the other in this one process: wall time of each, Ray's
   overhead, pairs per CPU-hour, and each task's peak memory beside what it declared.
"""
import argparse
import sys
import time


def startup() -> list[float]:
    import subprocess

    code = ("import time; t = time.perf_counter(); import ray; ray.init(include_dashboard=False, "
            "log_to_driver=False); ray.get(ray.remote(lambda: 1).remote()); ray.shutdown(); "
            "print(time.perf_counter() - t)")
    return [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split()[-1]) for _ in range(3)]


def pairs_on_ray_and_in_one_process(glob: str, limit: int) -> None:
    import tempfile

    from modern_cnns.parity.frameworks import cores, set_threads
    from modern_cnns.parity.zoo import engine
    from modern_cnns.parity.zoo.sources import enumerate_pairs, select
    from modern_cnns.parity.zoo.store import Store, declared_gb
    from modern_cnns.parity.zoo.task import check_zoo_pair

    pairs = select(enumerate_pairs("gluoncv2:pytorchcv", "reports/zoo", glob), max_input=64, limit=limit)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder, "gluoncv2:pytorchcv")
        t = time.perf_counter()
        engine.run(pairs, store, version="bench", show_progress=False)
        on_ray = time.perf_counter() - t
        records = {r["pair"]: r for r in store.records()}
    set_threads(1)
    t = time.perf_counter()
    for pair in pairs:
        check_zoo_pair(pair, ("float32", "float64"), 0, "bench")
    serial = time.perf_counter() - t
    n = len(pairs)
    print(f"{n} pairs ({pairs[0].name} ... {pairs[-1].name}), both dtypes, {cores()} cores")
    print(f"  on Ray, {cores()} tasks at a time: {on_ray:.1f} s  "
          f"({n / on_ray * 3600 / cores():.0f} pairs per CPU-hour)")
    print(f"  one process, one after the other (1 thread): {serial:.1f} s  "
          f"({n / serial * 3600:.0f} pairs per CPU-hour)")
    print(f"  Ray's overhead: {on_ray * cores() - serial:+.1f} CPU-s over {n} pairs "
          f"({(on_ray * cores() - serial) / n:+.1f} s a pair: a fresh worker imports both frameworks)")
    print("  peak memory of each task against what it declared (GB):")
    for name, r in records.items():
        print(f"    {name:36s} {r.get('peak_gb') or 0:5.2f} / {declared_gb(r) or 0:5.2f}  {r['verdict']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--startup-only", action="store_true")
    parser.add_argument("--pairs", default="*", help="glob over gluoncv2:pytorchcv names")
    parser.add_argument("--limit", type=int, default=6)
    args = parser.parse_args()
    runs = startup()
    print(f"Ray's fixed cost (import, init, one task, shutdown): {', '.join(f'{s:.1f}' for s in runs)} s; "
          f"{min(runs) / 45:.0%} of a 45 s sweep at best")
    if not args.startup_only:
        pairs_on_ray_and_in_one_process(args.pairs, args.limit)


if __name__ == "__main__":
    main()
