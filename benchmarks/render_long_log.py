"""Seconds ``reproduce --render`` takes for a log of N epochs (prints figures; linear, not quadratic).

    .venv/bin/python benchmarks/render_long_log.py [EPOCHS ...]

EPOCHS defaults to 50000 100000 200000: a synthetic ``log.json`` of the gluonbook BN-LeNet
experiment with both frameworks' histories, rendered into a temporary folder.  The table used
to look each epoch up by a scan of the history (200k epochs did not finish in 300 s); the
figures should grow in proportion to N.
"""
import json
import sys
import tempfile
import time
from pathlib import Path

from modern_cnns.parity.catalog import experiments
from modern_cnns.parity.runs.outputs import load_reference, render


def synthetic_log(epochs: int) -> dict:
    def history(offset):
        return [{"epoch": e, "loss": 1.0 / e + offset, "train_acc": 0.5, "test_acc": 0.5, "time": 1.0}
                for e in range(1, epochs + 1)]

    return {"experiment": "bn_lenet_scratch", "epochs": epochs, "batch_size": 256, "lr": 1.0, "device": "cpu",
            "seed": 0, "limit_batches": None, "history": {"gluon": history(0.0), "torch": history(1e-6)},
            "first_bn": {"gluon": None, "torch": None},
            "reference": load_reference(experiments.get("bn_lenet_scratch").reference)}


def main(sizes):
    for epochs in sizes:
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "log.json").write_text(json.dumps(synthetic_log(epochs)))
            start = time.perf_counter()
            render(Path(folder))
            seconds = time.perf_counter() - start
        print(f"--render of {epochs:7d} epochs (two frameworks): {seconds:6.1f} s "
              f"({seconds / epochs * 1e6:.1f} us per epoch)", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [50000, 100000, 200000])
