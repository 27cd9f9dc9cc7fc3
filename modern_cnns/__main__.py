"""``python -m modern_cnns ...``: the same command line as ``python -m parity`` (which works from a checkout)."""
from modern_cnns.parity.__main__ import run

run()
