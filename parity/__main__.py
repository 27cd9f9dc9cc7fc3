"""``python -m parity ...`` from a checkout (``python -m modern_cnns ...`` anywhere it is installed)."""
import os
import sys


def run() -> None:
    # MXNet reserves one core for its engine by default and runs its operators'
    # OpenMP loops on the rest: one thread on a 2-core machine.  All cores is about
    # 1.4x faster for the course's many small operators (benchmarks/bn_lenet_gluon_epoch.py).
    # Read once, when MXNet loads: set it before anything imports mxnet.  It overrides
    # OMP_NUM_THREADS inside MXNet, so it follows what torch gets: OMP_NUM_THREADS where set
    # (OMP_NUM_THREADS=1 gave torch 1 thread and MXNet every core, before).
    from modern_cnns.parity.frameworks import default_threads  # imports no framework

    os.environ.setdefault("MXNET_OMP_MAX_THREADS", str(default_threads()))
    from modern_cnns.parity.cli import main

    sys.exit(main())


if __name__ == "__main__":
    run()
