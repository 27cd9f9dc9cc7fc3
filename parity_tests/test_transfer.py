"""Weight transfer both ways: by name, by map, by position; all-or-nothing; checkpoints."""
from collections import OrderedDict

import numpy as np
import pytest

from modern_cnns.parity.catalog import registry
from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import needs_both, slow_if_large

pytestmark = needs_both


def snapshot_torch(module):
    from modern_cnns.parity.weights.state import torch_slots

    slots, _ = torch_slots(module)
    return {name: slot.read().copy() for name, slot in slots.items()}


def snapshot_gluon(block):
    from modern_cnns.parity.weights.state import gluon_slots

    return {name: slot.read().copy() for name, slot in gluon_slots(block).items()}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name


def gluon_net(name, dtype="float32", seed=0, **kw):
    from modern_cnns.parity.verdict.pair import randomize_gluon_state
    from modern_cnns.parity.weights.init import initialize_gluon

    entry = registry.get(name)
    block = initialize_gluon(entry.build_gluon(**kw), entry.batch_shape(2), dtype=dtype)
    return randomize_gluon_state(block, seed)


@pytest.mark.parametrize("name", slow_if_large(registry.names()))  # the transfer code is the same for all
def test_round_trip_gluon_torch_gluon_is_bitwise(name):
    from modern_cnns.parity.weights.init import initialize_gluon
    from modern_cnns.parity.weights.transfer import gluon_to_torch, torch_to_gluon

    entry = registry.get(name)
    source = gluon_net(name)
    module = entry.build_torch()
    report = gluon_to_torch(source, module)
    back = initialize_gluon(entry.build_gluon(), entry.batch_shape(2))
    torch_to_gluon(module, back)
    assert_same_state(snapshot_gluon(source), snapshot_gluon(back))
    assert len(report.mapped) == len(snapshot_gluon(source))


def test_scratch_batchnorm_moving_statistics_travel():
    """The plain attributes that neither save_parameters nor state_dict() sees are moved too."""
    from modern_cnns.parity.weights.transfer import gluon_to_torch

    block = gluon_net("bn_lenet_scratch")
    module = registry.get("bn_lenet_scratch").build_torch()
    report = gluon_to_torch(block, module)
    assert ("1.moving_var", "1.moving_var", (1, 6, 1, 1)) in report.mapped
    np.testing.assert_array_equal(module[1].moving_var.numpy(), block[1].moving_var.asnumpy())
    np.testing.assert_array_equal(module[9].moving_mean.numpy(), block[9].moving_mean.asnumpy())
    assert not np.all(module[1].moving_var.numpy() == 0)  # the randomised values, not the zeros of a fresh net


def test_gamma_beta_map_to_weight_bias_and_running_stats_move():
    from modern_cnns.parity.weights.transfer import gluon_to_torch

    block = gluon_net("bn_lenet_concise")
    module = registry.get("bn_lenet_concise").build_torch()
    report = gluon_to_torch(block, module)
    assert ("1.gamma", "1.weight", (6,)) in report.mapped and ("1.beta", "1.bias", (6,)) in report.mapped
    np.testing.assert_array_equal(module[1].running_var.numpy(), block[1].running_var.data().asnumpy())


def test_destination_keeps_its_dtype():
    import torch

    from modern_cnns.parity.weights.transfer import gluon_to_torch

    block = gluon_net("lenet", dtype="float64")
    module = registry.get("lenet").build_torch()  # float32
    gluon_to_torch(block, module)
    assert module[0].weight.dtype == torch.float32
    np.testing.assert_array_equal(module[0].weight.detach().numpy(),
                                  block[0].weight.data().asnumpy().astype(np.float32))


def test_wrong_shape_names_parameter_and_both_shapes_and_changes_nothing():
    from modern_cnns.parity.weights.transfer import TransferError, gluon_to_torch

    block = gluon_net("lenet")                                        # 10 classes
    module = registry.get("lenet").build_torch(num_classes=5)
    before = snapshot_torch(module)
    with pytest.raises(TransferError) as err:
        gluon_to_torch(block, module)
    message = str(err.value)
    assert "shape mismatch 6.weight -> 6.weight: gluon (10, 84) vs torch (5, 84)" in message
    assert "shape mismatch 6.bias -> 6.bias: gluon (10,) vs torch (5,)" in message
    assert "not modified" in message
    assert_same_state(before, snapshot_torch(module))


def test_wrong_architecture_lists_missing_and_unexpected_and_changes_nothing():
    from modern_cnns.parity.weights.transfer import TransferError, torch_to_gluon

    module = registry.get("bn_lenet_concise").build_torch()
    block = gluon_net("lenet")
    before = snapshot_gluon(block)
    with pytest.raises(TransferError) as err:
        torch_to_gluon(module, block)
    problems = err.value.problems
    assert any(p.startswith("unexpected (in torch, no gluon counterpart): 1.running_mean (6,)") for p in problems)
    assert any(p.startswith("missing (in gluon, no torch counterpart): 2.weight") for p in problems)
    assert any("shape mismatch" in p for p in problems)
    assert_same_state(before, snapshot_gluon(block))


def test_non_strict_copies_what_matches_and_reports_the_rest():
    from modern_cnns.parity.weights.transfer import gluon_to_torch

    block = gluon_net("lenet")
    module = registry.get("lenet").build_torch(num_classes=5)
    report = gluon_to_torch(block, module, strict=False)
    assert [m.split(":")[0] for m in report.mismatched] == ["6.weight -> 6.weight", "6.bias -> 6.bias"]
    np.testing.assert_array_equal(module[0].weight.detach().numpy(), block[0].weight.data().asnumpy())
    assert "6.weight" not in [dst for _, dst, _ in report.mapped]


def test_uninitialised_and_deferred_gluon_sources_are_rejected_with_how_to_fix():
    from modern_cnns.parity.weights.state import StateError
    from modern_cnns.parity.weights.transfer import gluon_to_torch

    entry = registry.get("lenet")
    module = entry.build_torch()
    with pytest.raises(StateError, match=r"not initialised .* call block.initialize\(\) first"):
        gluon_to_torch(entry.build_gluon(), module)
    deferred = entry.build_gluon()
    deferred.initialize()
    with pytest.raises(StateError, match="deferred shapes .* pass example_input="):
        gluon_to_torch(deferred, module)
    report = gluon_to_torch(deferred, module, example_input=(1, 1, 28, 28))
    assert len(report.mapped) == 10


def test_lazy_torch_modules_are_materialised_from_an_example_input():
    from torch import nn

    from modern_cnns.parity.weights.state import StateError
    from modern_cnns.parity.weights.transfer import gluon_to_torch

    block = gluon_net("lenet_d2l")
    lazy = nn.Sequential(nn.LazyConv2d(6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
                         nn.LazyConv2d(16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
                         nn.LazyLinear(120), nn.Sigmoid(), nn.LazyLinear(84), nn.Sigmoid(), nn.LazyLinear(10))
    with pytest.raises(StateError, match="Lazy, un-materialised .* example_input="):
        gluon_to_torch(block, lazy)
    gluon_to_torch(block, lazy, example_input=(1, 1, 28, 28))
    np.testing.assert_array_equal(lazy[7].weight.detach().numpy(), block[7].weight.data().asnumpy())


def _renamed_lenet_d2l():
    from torch import nn

    return nn.Sequential(OrderedDict(
        c1=nn.Conv2d(1, 6, 5, padding=2), a1=nn.Sigmoid(), p1=nn.AvgPool2d(2, 2),
        c2=nn.Conv2d(6, 16, 5), a2=nn.Sigmoid(), p2=nn.AvgPool2d(2, 2), flat=nn.Flatten(),
        f1=nn.Linear(400, 120), a3=nn.Sigmoid(), f2=nn.Linear(120, 84), a4=nn.Sigmoid(), out=nn.Linear(84, 10)))


def test_positional_mode_is_opt_in_and_still_checks_shapes():
    from torch import nn

    from modern_cnns.parity.weights.transfer import TransferError, gluon_to_torch

    block = gluon_net("lenet_d2l")
    module = _renamed_lenet_d2l()
    with pytest.raises(TransferError, match="unexpected"):
        gluon_to_torch(block, module)                       # by name nothing matches
    report = gluon_to_torch(block, module, positional=True)
    assert report.mapped[0] == ("0.weight", "c1.weight", (6, 1, 5, 5))
    np.testing.assert_array_equal(module.out.weight.detach().numpy(), block[11].weight.data().asnumpy())
    module.out = nn.Linear(84, 7)
    with pytest.raises(TransferError, match=r"11.weight -> out.weight: gluon \(10, 84\) vs torch \(7, 84\)"):
        gluon_to_torch(block, module, positional=True)


def test_callable_name_map():
    from modern_cnns.parity.weights.transfer import gluon_to_torch

    block = gluon_net("lenet_d2l")
    module = _renamed_lenet_d2l()
    names = {"0": "c1", "3": "c2", "7": "f1", "9": "f2", "11": "out"}
    report = gluon_to_torch(block, module, name_map=lambda n: "{}.{}".format(names[n.split(".")[0]], n.split(".")[1]))
    assert len(report.mapped) == 10


# --- a model nobody here wrote: MXNet's model-zoo AlexNet vs a torchvision-style port ---------
def torchvision_style_alexnet(classes=1000):
    """torchvision's AlexNet layout, written by hand (torchvision itself is not installable beside torch 2.13)."""
    from torch import nn

    class AlexNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
                nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
                nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
            self.classifier = nn.Sequential(
                nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
                nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, classes))

        def forward(self, x):
            return self.classifier(self.features(x).flatten(1))

    return AlexNet()


#: Gluon model_zoo AlexNet name -> torchvision-style name (the README shows this map).
ALEXNET_MAP = {
    **{f"features.{g}.{p}": f"features.{t}.{p}" for g, t in [(0, 0), (2, 3), (4, 6), (5, 8), (6, 10)]
       for p in ("weight", "bias")},
    **{f"features.{g}.{p}": f"classifier.{t}.{p}" for g, t in [(9, 1), (11, 4)] for p in ("weight", "bias")},
    "output.weight": "classifier.6.weight", "output.bias": "classifier.6.bias",
}


def test_model_zoo_alexnet_to_hand_written_torch_port_via_name_map():
    import mxnet as mx
    import torch
    from mxnet.gluon.model_zoo import vision

    from modern_cnns.parity.weights.transfer import gluon_to_torch

    block = vision.alexnet(classes=1000)
    block.initialize(mx.init.Xavier())
    module = torchvision_style_alexnet()
    x = np.random.default_rng(0).uniform(size=(2, 3, 224, 224)).astype(np.float32)
    report = gluon_to_torch(block, module, name_map=ALEXNET_MAP, example_input=x)
    assert len(report.mapped) == 16
    expected = block(mx.nd.array(x)).asnumpy()
    with torch.no_grad():
        got = module.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_torch_batchnorm_num_batches_tracked_is_ignored_and_reported():
    from torch import nn

    from modern_cnns.parity.weights.transfer import torch_to_gluon

    module = nn.Sequential(nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6))
    from mxnet.gluon import nn as gnn

    block = gnn.Sequential()
    block.add(gnn.Conv2D(6, 5), gnn.BatchNorm())
    block.initialize()
    report = torch_to_gluon(module, block, example_input=(1, 1, 28, 28))
    assert report.ignored == ["1.num_batches_tracked"] and len(report.mapped) == 6


# --- checkpoints and `python -m parity convert` ----------------------------------------------
def run_cli(*args):
    """(exit code, stdout + stderr) of ``python -m parity ARGS``, run in this process (``parity.cli.main``): a
    child would load both frameworks again for each call.  ``convert`` as a child of its own, killed
    mid-write and refusing a damaged file, is in ``test_checkpoint_files.py``."""
    code, out, err = run_main(*args)
    return code, out + err


@pytest.mark.parametrize("name", ["bn_lenet_scratch", pytest.param("resnet", marks=pytest.mark.slow)])
def test_convert_both_ways_through_the_cli(tmp_path, name):
    from modern_cnns.parity.weights.checkpoint import load_gluon, load_torch, save_gluon
    from modern_cnns.parity.weights.init import initialize_gluon

    entry = registry.get(name)
    block = gluon_net(name)
    save_gluon(block, tmp_path / "a.params")
    code, out = run_cli("convert", "--model", name, str(tmp_path / "a.params"), str(tmp_path / "b.pt"))
    assert code == 0, out
    module = entry.build_torch()
    load_torch(module, tmp_path / "b.pt")
    code, out = run_cli("convert", "--model", name, str(tmp_path / "b.pt"), str(tmp_path / "c.params"))
    assert code == 0, out
    back = initialize_gluon(entry.build_gluon(), entry.batch_shape(1))
    load_gluon(back, tmp_path / "c.params")
    assert_same_state(snapshot_gluon(block), snapshot_gluon(back))
    assert not list(tmp_path.glob(".*tmp"))


def test_our_params_files_load_with_gluon_load_parameters(tmp_path):
    from modern_cnns.parity.weights.checkpoint import save_gluon
    from modern_cnns.parity.weights.init import initialize_gluon

    block = gluon_net("bn_lenet_concise")
    save_gluon(block, tmp_path / "a.params")
    other = initialize_gluon(registry.get("bn_lenet_concise").build_gluon(), (1, 1, 28, 28))
    other.load_parameters(str(tmp_path / "a.params"))
    assert_same_state(snapshot_gluon(block), snapshot_gluon(other))


def test_truncated_checkpoints_are_clear_errors(tmp_path):
    from modern_cnns.parity.weights.checkpoint import save_gluon, save_torch

    block = gluon_net("lenet")
    save_gluon(block, tmp_path / "a.params")
    save_torch(registry.get("lenet").build_torch(), tmp_path / "a.pt")
    for path in (tmp_path / "a.params", tmp_path / "a.pt"):
        path.write_bytes(path.read_bytes()[:200])
    target = "b.pt"
    code, out = run_cli("convert", "--model", "lenet", str(tmp_path / "a.params"), str(tmp_path / target))
    assert code == 1 and "damaged Gluon .params file: array 0 of shape (6, 1, 5, 5) needs 600 bytes" in out
    assert "Traceback" not in out
    code, out = run_cli("convert", "--model", "lenet", str(tmp_path / "a.pt"), str(tmp_path / "b.params"))
    assert code == 1 and "not a readable PyTorch checkpoint, truncated or foreign" in out
    assert not (tmp_path / "b.pt").exists() and not (tmp_path / "b.params").exists()


def test_pickle_bearing_torch_file_is_refused(tmp_path):
    import torch

    from modern_cnns.parity.weights.checkpoint import CheckpointError, read_torch

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"0.weight": torch.zeros(1), "evil": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused, it needs arbitrary unpickling"):
        read_torch(tmp_path / "evil.pt")


def test_wrong_architecture_checkpoint_is_rejected(tmp_path):
    from modern_cnns.parity.weights.checkpoint import save_gluon

    save_gluon(gluon_net("lenet"), tmp_path / "a.params")
    code, out = run_cli("convert", "--model", "bn_lenet_concise", str(tmp_path / "a.params"), str(tmp_path / "b.pt"))
    assert code == 1 and "file -> gluon transfer refused" in out and "missing" in out
    assert not (tmp_path / "b.pt").exists()


def test_atomic_write_never_leaves_a_partial_file(tmp_path):
    from modern_cnns.parity.weights.checkpoint import atomic_write

    final = tmp_path / "model.pt"
    final.write_bytes(b"previous good checkpoint")

    def crash(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half of a new checkpoint")
        raise KeyboardInterrupt("killed mid-write")

    with pytest.raises(KeyboardInterrupt):
        atomic_write(final, crash)
    assert final.read_bytes() == b"previous good checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_a_hand_map_written_per_layer_gets_the_gamma_beta_fallback():
    """A map that renames layers and keeps Gluon's suffixes ("1.gamma" -> "1.gamma") still lands on weight/bias."""
    from modern_cnns.parity.weights.transfer import gluon_to_torch

    block = gluon_net("bn_lenet_concise")
    module = registry.get("bn_lenet_concise").build_torch()
    report = gluon_to_torch(block, module, name_map=lambda name: name)  # identity map: suffixes left as Gluon's
    assert ("1.gamma", "1.weight", (6,)) in report.mapped and ("1.beta", "1.bias", (6,)) in report.mapped
    gamma = next(v for k, v in snapshot_gluon(block).items() if k.endswith("gamma"))
    assert np.array_equal(module[1].weight.detach().numpy(), gamma)


def test_differently_named_trees_are_refused_with_the_way_out():
    from torch import nn

    from modern_cnns.parity.weights.transfer import TransferError, gluon_to_torch

    block = gluon_net("lenet")
    renamed = nn.Sequential(OrderedDict((f"layer{i}", m) for i, m in enumerate(registry.get("lenet").build_torch())))
    with pytest.raises(TransferError) as err:
        gluon_to_torch(block, renamed)
    assert "suggest-map" in str(err.value) and "positional=True" in str(err.value)
    report = gluon_to_torch(block, renamed, positional=True)
    assert len(report.mapped) == 10
