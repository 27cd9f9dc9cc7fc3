"""What the checker compares, as values: a :class:`Check` is one comparison, named by its fields.

A check is of one *kind* (a rule of :mod:`parity.verdict.tolerance` judges each kind), and says what
it compares: a tensor of the model's state (by its Gluon name, and its torch name where the pair
holds one), the number of SGD steps behind it, the probe of a prediction output (a scaled input,
drawn BatchNorm state), a further input size, and which of a model's several outputs.  Everything
that asks about a check (the verdict, the known differences, the localisation, the diagnosis) reads
these fields; none parses a name.

``str(check)`` is the name the reports print, and the only place a name is written:

* ``before training: <tensor>``, the port's start state, compared exactly;
* ``predict output``, with a probe ``predict output (input x10)`` / ``(BatchNorm state drawn)``
  (:mod:`parity.verdict.probes`), at a further input size ``predict output at 1x14x14``;
* ``train output``; either output of a model returning several: ``predict output[1]``,
  ``train output['aux']`` (:mod:`parity.verdict.outputs`);
* ``input gradient`` and ``gradient of <tensor>``, of the first step;
* ``statistics after 1 step: <tensor>`` and ``after K steps: <tensor>`` ("after 1 steps" when K is
  1: the reports have always said so, and JSON readers match these names).

Every :class:`Check` is validated when built, so every one renders: a name that does not parse back
cannot be made.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

BEFORE_TRAINING = "before training"
PREDICT_OUTPUT = "predict output"
TRAIN_OUTPUT = "train output"
STATISTICS = "statistics after 1 step"
INPUT_GRADIENT = "input gradient"
GRADIENT = "gradient"
AFTER_STEPS = "after steps"

#: every kind, in the order of :data:`parity.verdict.tolerance.RULES`
KINDS = (BEFORE_TRAINING, PREDICT_OUTPUT, TRAIN_OUTPUT, STATISTICS, INPUT_GRADIENT, GRADIENT, AFTER_STEPS)
#: kinds that compare one tensor of the model's state (or its gradient), named by the original
TENSOR_KINDS = (BEFORE_TRAINING, STATISTICS, GRADIENT, AFTER_STEPS)
#: kinds that compare the model's outputs, each of several outputs a check of its own
OUTPUT_KINDS = (PREDICT_OUTPUT, TRAIN_OUTPUT)
#: kinds that compare state, not values computed from the input
STATE_KINDS = (AFTER_STEPS, STATISTICS, BEFORE_TRAINING)


@dataclass(frozen=True)
class Probe:
    """A prediction output probed beyond the checker's batch: the batch scaled, or every BatchNorm's state
    drawn (:mod:`parity.verdict.probes`)."""

    scale: float = 1.0
    batchnorm: bool = False

    def __post_init__(self):
        if self.batchnorm == (self.scale != 1.0):
            raise ValueError(f"a probe scales the input or draws BatchNorm state, not both nor neither: {self!r}")

    @property
    def check(self) -> Check:
        """The prediction output under this probe."""
        return Check(PREDICT_OUTPUT, probe=self)

    def __str__(self) -> str:
        return "BatchNorm state drawn" if self.batchnorm else f"input x{self.scale:g}"


def _split(name: str) -> tuple[str, str]:
    """(module, attribute) of a structural slot name (``3.bn1.gamma``: ``3.bn1``, ``gamma``); the module of a
    model's own tensor is ``""``."""
    module, _, attribute = name.rpartition(".")
    return module, attribute


@dataclass(frozen=True)
class Check:
    """One comparison of the original and the port (see the module docstring for the kinds and names).

    Attributes:
        kind: one of :data:`KINDS`: the rule that judges it.
        tensor: the compared tensor's Gluon name (its state, its gradient), for :data:`TENSOR_KINDS`.
        step: the SGD steps taken before the comparison (1 for the statistics, K after steps).
        probe: the prediction output's :class:`Probe`, if probed.
        size: a further sample shape at which the prediction output is compared.
        output: the keys of one of a model's several outputs (``(1,)``, ``('aux',)``); ``()`` for the one.
        torch_tensor: the tensor's name in the port, where the pair holds one.  Not part of the check's
            identity: the original's results (which know no torch name) and the port's key the same checks.
    """

    kind: str
    tensor: str | None = None
    step: int | None = None
    probe: Probe | None = None
    size: tuple | None = None
    output: tuple = ()
    torch_tensor: str | None = field(default=None, compare=False)

    def __post_init__(self):
        problems = [
            (self.kind not in KINDS, f"kind {self.kind!r} is none of {KINDS}"),
            ((self.tensor is None) == (self.kind in TENSOR_KINDS), "a tensor names state kinds' checks only"),
            (self.torch_tensor is not None and self.tensor is None, "a torch name without the Gluon one"),
            ((self.step is None) == (self.kind in (STATISTICS, AFTER_STEPS)), "a step count is for state after steps"),
            (self.kind == STATISTICS and self.step != 1, "statistics are compared after 1 step"),
            (self.step is not None and self.step < 1, "at least one step"),
            (self.probe is not None and self.kind != PREDICT_OUTPUT, "only a prediction output is probed"),
            (self.size is not None and (self.kind != PREDICT_OUTPUT or self.probe is not None or self.output
                                        or not self.size), "a further input size is of the plain prediction"),
            (bool(self.output) and self.kind not in OUTPUT_KINDS, "an output path is for the outputs"),
        ]
        wrong = [why for bad, why in problems if bad]
        if wrong:
            raise ValueError(f"not a check: {'; '.join(wrong)} ({self!r})")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def before_training(cls, tensor: str, torch_tensor: str | None = None) -> Check:
        return cls(BEFORE_TRAINING, tensor, torch_tensor=torch_tensor)

    @classmethod
    def gradient_of(cls, tensor: str, torch_tensor: str | None = None) -> Check:
        return cls(GRADIENT, tensor, torch_tensor=torch_tensor)

    @classmethod
    def statistics(cls, tensor: str, torch_tensor: str | None = None) -> Check:
        """A running statistic after the first step."""
        return cls(STATISTICS, tensor, step=1, torch_tensor=torch_tensor)

    @classmethod
    def after(cls, steps: int, tensor: str, torch_tensor: str | None = None) -> Check:
        """A tensor of the state after ``steps`` SGD steps."""
        return cls(AFTER_STEPS, tensor, step=steps, torch_tensor=torch_tensor)

    @classmethod
    def predict_at(cls, size) -> Check:
        """The prediction output at a further sample shape ``size``."""
        return cls(PREDICT_OUTPUT, size=tuple(size))

    def at_output(self, keys: tuple) -> Check:
        """This check of the output the ``keys`` lead to in a model's several outputs."""
        return replace(self, output=tuple(keys))

    def paired(self, names: dict) -> Check:
        """This check with its tensor's torch name from ``names`` (``{gluon: torch}``), where there is one."""
        return self if self.tensor is None else replace(self, torch_tensor=names.get(self.tensor))

    # ------------------------------------------------------------------ reading it
    @property
    def layer(self) -> str:
        """The Gluon module that holds the tensor (``""``: the model itself)."""
        return _split(self.tensor or "")[0]

    @property
    def attribute(self) -> str:
        """The tensor's own name in its module (``running_var``)."""
        return _split(self.tensor or "")[1]

    @property
    def torch_layer(self) -> str | None:
        """The torch module that holds the tensor, where its torch name is known and has one."""
        return (_split(self.torch_tensor)[0] or None) if self.torch_tensor else None

    @property
    def torch_attribute(self) -> str | None:
        """The tensor's own name in its torch module, where its torch name is known."""
        return _split(self.torch_tensor)[1] if self.torch_tensor else None

    @property
    def size_text(self) -> str:
        """The further input size as the reports write it (``1x14x14``); ``""`` for none."""
        return "x".join(map(str, self.size)) if self.size is not None else ""

    def __str__(self) -> str:
        if self.kind in TENSOR_KINDS:
            head = {BEFORE_TRAINING: "before training:", GRADIENT: "gradient of",
                    STATISTICS: "statistics after 1 step:", AFTER_STEPS: f"after {self.step} steps:"}[self.kind]
            return f"{head} {self.tensor}"
        name = self.kind
        if self.size is not None:
            name += f" at {self.size_text}"
        if self.probe is not None:
            name += f" ({self.probe})"
        return name + "".join(f"[{key!r}]" for key in self.output)


#: the checks of the model's output and input gradient
PREDICT = Check(PREDICT_OUTPUT)
TRAIN = Check(TRAIN_OUTPUT)
INPUT_GRAD = Check(INPUT_GRADIENT)


@dataclass(frozen=True)
class CheckSet:
    """Checks of some kinds on tensors of some attributes (``running_var`` after steps): the only checks a
    known difference lets fail."""

    kinds: tuple
    attributes: tuple

    def __contains__(self, check: object) -> bool:
        return isinstance(check, Check) and check.kind in self.kinds and check.tensor is not None \
            and check.attribute in self.attributes
