"""Verify any port: check_pair, use_gluon_batchnorm and the CLI on third-party model zoos.

gluoncv 0.10.5's model zoo against torchvision 0.28's architectures, and gluoncv2 against
pytorchcv (the same author's mirrored zoos).  Nothing here was written by this project: these
are the ports a user brings.  Small inputs where the architecture allows; the 224x224-only
pairs are marked slow.
"""
import json
import subprocess
import sys

import pytest

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import REPO, needs_both

pytestmark = needs_both


def zoo(name):
    sys.path.insert(0, str(REPO))
    from examples import zoo_pairs

    return getattr(zoo_pairs, name)()


def _failed(result):
    return [str(r.check) for r in result.rows if not r.passed]


@pytest.mark.slow  # the quick loop names the same convention on the course's BN-LeNet (test_parity_check.py)
def test_stock_torchvision_batchnorm_fails_float64_with_a_diagnosis_and_passes_once_wrapped():
    """The BN convention difference, named: biased vs unbiased running variance, with n."""
    from modern_cnns.parity import check_pair, use_gluon_batchnorm

    gluon_block, module = zoo("gluoncv_resnet18"), zoo("torchvision_resnet18")
    stock, = check_pair(gluon_block, module, (3, 64, 64), dtypes=("float64",))
    assert not stock.passed
    failed = _failed(stock)
    assert failed and all(c.startswith(("statistics after 1 step: ", "after 2 steps: ")) for c in failed), failed
    assert stock.first_divergence is None  # outputs agree: nothing to localise
    assert any("n/(n-1)" in d and "unbiased" in d and "use_gluon_batchnorm" in d for d in stock.diagnosis), \
        stock.diagnosis
    for result in check_pair(gluon_block, use_gluon_batchnorm(module), (3, 64, 64)):
        assert result.passed, (result.dtype, _failed(result)[:5], result.diagnosis)
        assert result.first_divergence is None and result.diagnosis == []


def test_use_gluon_batchnorm_keeps_weights_and_statistics():
    import torch
    from torch import nn

    from modern_cnns.parity import use_gluon_batchnorm
    from modern_cnns.torch_impl.gluon_layers import BatchNorm

    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, eps=1e-3), nn.Flatten(), nn.Linear(4 * 36, 5),
                           nn.BatchNorm1d(5)).double()
    with torch.no_grad():
        for bn in (module[1], module[4]):
            bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-1, 1)
            bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2)
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    expected = module.eval()(x)
    swapped = use_gluon_batchnorm(module)
    assert [type(m) for m in swapped.modules() if isinstance(m, (BatchNorm, nn.BatchNorm2d, nn.BatchNorm1d))] \
        == [BatchNorm, BatchNorm]
    assert swapped[1].epsilon == 1e-3 and swapped[1].running_var.dtype == torch.float64
    assert torch.equal(swapped.eval()(x), expected)  # prediction mode: the same function, bit for bit


def test_a_max_to_avg_pooling_mutation_of_a_torchvision_model_is_localised_by_name():
    from torch import nn

    from modern_cnns.parity import check_pair, use_gluon_batchnorm

    module = use_gluon_batchnorm(zoo("torchvision_resnet18"))
    module.maxpool = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
    result, = check_pair(zoo("gluoncv_resnet18"), module, (3, 64, 64), dtypes=("float64",))
    assert not result.passed and "predict output" in _failed(result)
    assert result.first_divergence.startswith("layer maxpool"), result.first_divergence


@pytest.mark.slow  # input_sizes on small pairs in the quick loop: test_api_contract.py
def test_a_size_dependent_pooling_shows_at_another_input_size():
    """gluoncv2's ResNet pools with a fixed 7x7 window, pytorchcv's too: both agree at 224 and at 256
    they stay equal; a torchvision model with adaptive pooling against gluoncv's fixed one does not."""
    from torch import nn

    from modern_cnns.parity import check_pair, use_gluon_batchnorm

    module = use_gluon_batchnorm(zoo("torchvision_resnet18"))
    result, = check_pair(zoo("gluoncv_resnet18"), module, (3, 64, 64), dtypes=("float64",), input_sizes=[96])
    sized = [r for r in result.rows if str(r.check) == "predict output at 3x96x96"]
    assert sized and sized[0].passed  # both pool globally: equal at any size
    module.avgpool = nn.AvgPool2d(kernel_size=2)  # fixed 2x2 window: right at 64x64 (2x2 maps) only
    result, = check_pair(zoo("gluoncv_resnet18"), module, (3, 64, 64), dtypes=("float64",), input_sizes=[96])
    assert "predict output" not in _failed(result)
    assert "predict output at 3x96x96" in _failed(result)
    assert any("input size" in d for d in result.diagnosis), result.diagnosis


def test_positional_transfer_checks_a_pair_whose_names_differ():
    from modern_cnns.parity import check_pair

    for result in check_pair(zoo("gluoncv2_nin_cifar10"), zoo("pytorchcv_nin_cifar10"), (3, 32, 32),
                             positional=True):
        assert result.passed, (result.dtype, _failed(result)[:5])


def test_check_pair_gives_the_models_back_as_it_found_them():
    import numpy as np
    from torch import nn

    from modern_cnns.parity import check_pair
    from modern_cnns.parity.weights.state import gluon_slots

    block, module = zoo("gluoncv2_nin_cifar10"), zoo("pytorchcv_nin_cifar10")
    block.initialize()
    before = {n: s.read() for n, s in gluon_slots(block, (1, 3, 32, 32)).items()}
    rates = [m.p for m in module.modules() if isinstance(m, nn.Dropout)]
    assert rates and all(rate > 0 for rate in rates)
    port_before = {k: v.clone() for k, v in module.state_dict().items()}
    check_pair(block, module, (3, 32, 32), positional=True, dtypes=("float64",))
    assert [m.p for m in module.modules() if isinstance(m, nn.Dropout)] == rates
    assert all(v.equal(port_before[k]) for k, v in module.state_dict().items())  # the port's own weights
    after = {n: s.read() for n, s in gluon_slots(block).items()}
    assert all(after[n].dtype == np.float32 and np.array_equal(after[n], before[n]) for n in before)
    assert next(module.parameters()).dtype.is_floating_point and str(next(module.parameters()).dtype) == \
        "torch.float32"


@pytest.mark.slow  # the largest zoo pair outside the 224x224 ones
def test_mobilenet_classifier_conv_to_linear_reshape_and_zero_frozen_bias():
    """gluoncv's classifier is a bias-free 1x1 conv (10, 1280, 1, 1); torchvision's a Linear with a bias."""
    from modern_cnns.parity import check_pair, use_gluon_batchnorm

    gluon_block, module = zoo("gluoncv_mobilenetv2"), use_gluon_batchnorm(zoo("torchvision_mobilenetv2"))
    result, = check_pair(gluon_block, module, (3, 64, 64), positional=True, zero_frozen=("classifier.1.bias",),
                         dtypes=("float64",), accept=("dropout-position",))
    # torchvision drops (p=0.2) before its classifier, gluoncv does not: a structural difference, accepted here
    assert result.passed and result.known_difference, (_failed(result)[:5], result.diagnosis)
    assert any(d.startswith("KNOWN DIFFERENCE (accepted dropout-position): dropout only in torch (p=0.2)")
               for d in result.diagnosis), result.diagnosis


def test_cli_checks_a_users_pair_and_suggests_a_map(tmp_path):
    args = ["--gluon", "examples.zoo_pairs:gluoncv2_nin_cifar10", "--torch", "examples.zoo_pairs:pytorchcv_nin_cifar10",
            "--input", "3,32,32"]
    # both commands in this process (parity.cli.main): a child would load both frameworks and both zoos, twice
    code, stdout, stderr = run_main("suggest-map", *args)
    assert code == 0, stderr
    proposal = json.loads(stdout)
    # 9 convolutions, weight and bias each, every one paired, no torch name used twice
    assert len(proposal["map"]) == 18 and len(set(proposal["map"].values())) == 18
    assert not proposal["unpaired_gluon"] and not proposal["unpaired_torch"]
    (tmp_path / "map.json").write_text(json.dumps(proposal))
    out = tmp_path / "r.json"
    code, stdout, stderr = run_main("check", *args, "--map", tmp_path / "map.json", "--dtype", "float64", "--json", out)
    assert code == 0, stdout + stderr
    assert "1/1 checks passed" in stdout and json.loads(out.read_text())["passed"] is True


def test_cli_user_pair_errors_are_usage_errors():
    proc = subprocess.run([sys.executable, "-m", "parity", "check", "--gluon", "nosuchmodule:f", "--torch",
                           "examples.zoo_pairs:pytorchcv_nin_cifar10", "--input", "3,32,32"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "cannot import 'nosuchmodule'" in proc.stderr, proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("gluon,torch_port,also", [
    ("gluoncv_alexnet", "torchvision_alexnet", ()),
    ("gluoncv2_resnet18", "pytorchcv_resnet18", ()),
    # torchvision rounds its 2x2 maxpool4 up (ceil_mode), gluoncv down: equal at 224, where its input is 14
    ("gluoncv_googlenet", "torchvision_googlenet", ("pool-ceil-mode",)),
    ("gluoncv_vgg11_bn", "torchvision_vgg11_bn", ()),
    ("gluoncv_densenet121", "torchvision_densenet121", ()),
])
def test_224_only_zoo_pairs_pass_in_float64(gluon, torch_port, also):
    """Architectures with fixed 7x7 pooling or 7x7 classifiers, at their own input size.

    The structural differences these zoos keep on purpose are accepted: a fixed pooling window
    against an adaptive one (equal at 224 only), and their dropout rates and places."""
    from modern_cnns.parity import check_pair, use_gluon_batchnorm

    result, = check_pair(zoo(gluon), use_gluon_batchnorm(zoo(torch_port)), (3, 224, 224), positional=True,
                         dtypes=("float64",), accept=("pool-global", "dropout-rate", "dropout-position", *also))
    assert result.passed, (_failed(result)[:5], result.diagnosis, result.first_divergence)


@pytest.mark.slow
def test_dropout_is_compared_by_structure():
    """Values cannot show dropout (the checks run with it off): its rates and positions are compared."""
    from modern_cnns.parity import check_pair, use_gluon_batchnorm

    result, = check_pair(zoo("gluoncv_googlenet"), use_gluon_batchnorm(zoo("torchvision_googlenet")), (3, 224, 224),
                         positional=True, dtypes=("float64",))
    assert not result.passed  # a structural difference fails unless accepted
    assert any(d.startswith("dropout rate: torch 0.2, gluon 0.4") for d in result.diagnosis), result.diagnosis
    result, = check_pair(zoo("gluoncv_alexnet"), zoo("torchvision_alexnet"), (3, 224, 224), positional=True,
                         dtypes=("float64",))
    # torch drops before each of its first two dense layers, gluoncv after them
    assert any(d.startswith("dropout position") for d in result.diagnosis), result.diagnosis
