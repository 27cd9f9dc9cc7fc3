"""``python -m parity ...`` from a checkout (``python -m modern_cnns ...`` anywhere it is installed)."""
import os
import sys


def run() -> None:
    # MXNet reserves one core for its engine by default and runs its operators'
    # OpenMP loops on the rest: one thread on a 2-core machine.  All cores is about
    # 1.4x faster for the course's many small operators (benchmarks/bn_lenet_gluon_epoch.py).
    # Read once, when MXNet loads: set it before anything imports mxnet.
    from modern_cnns.parity.frameworks import cores  # imports no framework

    os.environ.setdefault("MXNET_OMP_MAX_THREADS", str(cores()))
    from modern_cnns.parity.cli import main

    sys.exit(main())


if __name__ == "__main__":
    run()
