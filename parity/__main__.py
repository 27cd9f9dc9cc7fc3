import os
import sys

# MXNet reserves one core for its engine by default and runs its operators'
# OpenMP loops on the rest: one thread on a 2-core machine.  All cores is about
# 1.4x faster for the course's many small operators (benchmarks/bn_lenet_gluon_epoch.py).
# Read once, when MXNet loads: set it before anything imports mxnet.
from parity.frameworks import cores  # noqa: E402  (imports no framework)

os.environ.setdefault("MXNET_OMP_MAX_THREADS", str(cores()))

from parity.cli import main  # noqa: E402

sys.exit(main())
