"""``RunSpec``: one training run's settings, resolved from an experiment and the user's overrides."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modern_cnns.parity.catalog import experiments
from modern_cnns.parity.catalog.experiments import Experiment


@dataclass(frozen=True)
class RunSpec:
    """What to train and how: the values *used*, the experiment's defaults filled in.

    Attributes:
        experiment: the course experiment (network, loop, the course's hyper-parameters).
        epochs, batch_size, lr: as used (the experiment's unless overridden).
        device: ``"cpu"`` or ``"gpu"``.
        out: the run folder.
        resume: continue from the last epoch checkpoint in ``out``.
        limit_batches: only the first N batches of each epoch (quick runs), or None.
        seed: seeds the initialisation, the data shuffling and every epoch's RNGs.
    """

    experiment: Experiment
    epochs: int
    batch_size: int
    lr: float
    out: Path
    device: str = "cpu"
    resume: bool = False
    limit_batches: int | None = None
    seed: int = 0

    @classmethod
    def of(cls, name: str, *, epochs=None, batch_size=None, lr=None, out=None, **settings) -> "RunSpec":
        """The spec of experiment ``name``; None means the course's value (``out``: ``runs/NAME``)."""
        exp = experiments.get(name)
        return cls(exp, epochs or exp.epochs, batch_size or exp.batch_size, lr or exp.lr,
                   Path(out or Path("runs") / name), **settings)

    def config(self, frameworks) -> dict:
        """What a run folder records, and what ``--resume`` must find unchanged."""
        return {"experiment": self.experiment.name, "frameworks": list(frameworks), "lr": self.lr,
                "batch_size": self.batch_size, "seed": self.seed, "limit_batches": self.limit_batches,
                "dtype": "float32", "device": self.device}
