"""``RunSpec``: one training run's settings, resolved from an experiment and the user's overrides."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modern_cnns.parity.catalog import experiments
from modern_cnns.parity.catalog.experiments import Experiment

#: the largest seed every generator a run seeds accepts (numpy's legacy ``np.random.seed``: 2**32 - 1)
MAX_SEED = 2**32 - 1


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

    def __post_init__(self):
        """Refuse what would fail later, after the run folder is taken (a seed numpy cannot use, say)."""
        import math

        def whole(value, low, high=None):
            return type(value) is int and value >= low and (high is None or value <= high)

        problems = [f"{key} must be an integer >= 1, got {getattr(self, key)!r}" for key in ("epochs", "batch_size")
                    if not whole(getattr(self, key), 1)]
        if not whole(self.seed, 0, MAX_SEED):
            problems.append(f"seed must be an integer from 0 to {MAX_SEED}, got {self.seed!r}")
        if self.limit_batches is not None and not whole(self.limit_batches, 1):
            problems.append(f"limit_batches must be None or an integer >= 1, got {self.limit_batches!r}")
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            problems.append(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.device not in ("cpu", "gpu"):
            problems.append(f"device must be 'cpu' or 'gpu', got {self.device!r}")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def of(cls, name: str, *, epochs=None, batch_size=None, lr=None, out=None, **settings) -> "RunSpec":
        """The spec of experiment ``name``; None means the course's value (``out``: ``runs/NAME``)."""
        exp = experiments.get(name)
        def given(value, default):
            return default if value is None else value

        return cls(exp, given(epochs, exp.epochs), given(batch_size, exp.batch_size), given(lr, exp.lr),
                   Path(out or Path("runs") / name), **settings)

    def config(self, frameworks) -> dict:
        """What a run folder records, and what ``--resume`` must find unchanged."""
        return {"experiment": self.experiment.name, "frameworks": list(frameworks), "lr": self.lr,
                "batch_size": self.batch_size, "seed": self.seed, "limit_batches": self.limit_batches,
                "dtype": "float32", "device": self.device}
