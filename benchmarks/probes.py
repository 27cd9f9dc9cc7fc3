"""What the range probes add to a check (prints; asserts nothing).

    .venv/bin/python benchmarks/probes.py [--repeat N]

The probes of ``parity/verdict/probes.py`` (prediction outputs at input scale x10 and x30, and with
drawn BatchNorm state) run inside every check, forward only.  Here the real check runs, both dtypes,
with ``probes.run`` timed where the check calls it: on the registry's LeNet (gluonbook, MXNet edition,
§5.5) and on one zoo pair, gluoncv2 / pytorchcv ``resnet20_cifar10`` at 32x32 (positional transfer,
Gluon-exact BatchNorm, batch 2).  The figure is the probes' time over the whole check's, the best of
``--repeat`` runs (the machine is shared: the best run is the least disturbed one).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _timed(probes, spent):
    inner = probes.run

    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)
    return inner, run


def _lenet():
    from modern_cnns.parity.catalog import registry
    from modern_cnns.parity.verdict.check import check_network

    return check_network(registry.get("lenet"))


def _resnet20():
    from modern_cnns.parity import check_pair
    from parity_tests import bug_corpus

    pair = bug_corpus.PAIRS["gluoncv2_resnet20"]
    return check_pair(*bug_corpus.build_pair(pair), pair.input_shape, **pair.options)


def measure(name, check, repeat):
    from modern_cnns.parity.verdict import probes

    best = None
    for _ in range(repeat):
        spent: list = []
        inner, probes.run = _timed(probes, spent)
        try:
            start = time.perf_counter()
            results = check()
            total = time.perf_counter() - start
        finally:
            probes.run = inner
        verdict = ", ".join(f"{r.dtype} {'PASS' if r.passed else 'FAIL'}" for r in results)
        if best is None or total < best[0]:
            best = (total, sum(spent), verdict)
    total, probing, verdict = best
    print(f"{name:28s} check {total:6.2f} s  probes {probing:5.2f} s ({100 * probing / total:4.1f}%)  {verdict}",
          flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from modern_cnns.parity.frameworks import ensure_threads

    ensure_threads()
    measure("lenet (registry)", _lenet, args.repeat)
    measure("gluoncv2 resnet20_cifar10", _resnet20, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
