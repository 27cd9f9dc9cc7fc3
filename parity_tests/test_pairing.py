"""A pair whose names differ: one short refusal before any check, and ``--map auto``."""
import json

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import needs_both


def test_a_name_mismatch_is_refused_in_one_short_line():
    from modern_cnns.parity.verdict.pairing import name_mismatch

    gluon = [f"features.{i}.weight" for i in range(20)]
    torch = [f"stage{i}.conv.weight" for i in range(20)]
    refusal = name_mismatch(gluon, torch)
    assert "20 of 20 Gluon tensors" in refusal and "20 of 20 torch tensors" in refusal
    assert "features.0.weight, features.1.weight, features.2.weight, ... (17 more)" in refusal
    assert "--map auto" in refusal and "--positional" in refusal and "\n" not in refusal
    # one side alone unpaired is not a naming problem (the transfer names that tensor), nor a map that pairs all
    assert name_mismatch(gluon, gluon[:-1]) is None
    assert name_mismatch(gluon, torch, dict(zip(gluon, torch))) is None


@needs_both
def test_cli_refuses_a_mismatched_pair_once_with_exit_2_and_map_auto_checks_it(tmp_path):
    args = ["--gluon", "examples.zoo_pairs:gluoncv2_nin_cifar10", "--torch", "examples.zoo_pairs:pytorchcv_nin_cifar10",
            "--input", "3,32,32", "--dtype", "float64"]
    # in this process (parity.cli.main): a child would load both frameworks and both zoos again, twice
    code, out, err = run_main("check", *args)
    assert code == 2, out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "name their tensors differently" in errors[0] and "18 of 18" in errors[0], err
    assert "checks passed" not in out  # nothing was checked
    saved = tmp_path / "map.json"
    code, out, err = run_main("check", *args, "--map", "auto", "--save-map", saved)
    assert code == 0, out + err
    assert "map used (--map auto, from suggest-map): 18 pairs" in out
    assert len(json.loads(saved.read_text())) == 18


@needs_both
def test_a_name_mismatch_is_refused_from_the_names_alone_before_any_weight_is_made_or_run():
    """The refusal needs only the names: the Gluon block is never initialised, neither model runs."""
    import pytest
    import torch
    from mxnet.gluon import nn as gnn

    from modern_cnns.parity import check_pair
    from modern_cnns.parity.verdict.ports import PortError

    class NeverRun(gnn.HybridSequential):
        def hybrid_forward(self, F, x):
            raise AssertionError("the Gluon block ran")

    class NeverRunTorch(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stage = torch.nn.Linear(4, 3)

        def forward(self, x):
            raise AssertionError("the torch module ran")

    block = NeverRun()
    block.add(gnn.Dense(3, in_units=4))
    with pytest.raises(PortError, match="name their tensors differently"):
        check_pair(block, NeverRunTorch(), (4,))
    assert all(p._data is None for p in block.collect_params().values())  # never initialised
