"""The parity checker over registry x context x dtype, and proof that it catches broken ports."""
import functools
import json
import os
import subprocess
import sys

import pytest

from parity import registry
from parity.pairs import device_skip_reason
from parity_tests.conftest import REPO, needs_both

pytestmark = needs_both
NAMES = registry.names()
_GPU_SKIP = device_skip_reason("gpu")
CONTEXTS = ["cpu", "cpu-noonednn",
            pytest.param("gpu", marks=pytest.mark.skipif(_GPU_SKIP is not None, reason=f"gpu: {_GPU_SKIP}"))]


@functools.lru_cache(maxsize=None)
def in_process(name, device):
    """float32 verdicts need the float64 run: one call gives both dtypes."""
    from parity.check import check_network

    return {r.dtype: r for r in check_network(registry.get(name), device=device)}


@functools.lru_cache(maxsize=None)
def onednn_off_sweep(tmp_dir):
    """The whole registry with MXNet's oneDNN disabled, in a separate process (MXNet reads the switch once)."""
    out = os.path.join(tmp_dir, "noonednn.json")
    proc = subprocess.run([sys.executable, "-m", "parity", "check", "--no-onednn", "--json", out],
                          cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert os.path.exists(out), proc.stdout + proc.stderr
    with open(out) as f:
        results = json.load(f)["results"]
    return {(r["network"], r["dtype"]): r for r in results}


def _explain(result):
    failed = [r for r in result["rows"] if not r["passed"]]
    return "; ".join(f"{r['check']}: rel {r['max_rel']:.2e} ({r['tolerance']})" for r in failed[:5]) \
        + (f"; error: {result['error']}" if result["error"] else "") \
        + (f"; first divergence: {result['first_divergence']}" if result["first_divergence"] else "")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("name", NAMES)
def test_port_matches_original(name, context, dtype, tmp_path_factory):
    if context == "cpu-noonednn":
        from parity.tolerance import FLOAT64_ONLY_CONTEXTS

        if dtype == "float32":
            pytest.skip(f"cpu (oneDNN off): {FLOAT64_ONLY_CONTEXTS['cpu (oneDNN off)']}")
        result = onednn_off_sweep(str(tmp_path_factory.getbasetemp()))[(name, dtype)]
        assert result["device"] == "cpu (oneDNN off)"
    else:
        result = in_process(name, context)[dtype].to_dict()
    assert result["rows"], result
    assert result["passed"], _explain(result)


# --- the checks can fail, and say where -------------------------------------------------------
def _failed(result):
    return [r.check for r in result.rows if not r.passed]


def test_a_single_weight_perturbed_by_1e6_relative_is_caught_and_named():
    from parity.check import check_network

    def perturb(module):
        with __import__("torch").no_grad():
            module[0].weight[0, 0, 0, 0] *= 1 + 1e-6

    result, = check_network(registry.get("lenet"), dtypes=("float64",), tamper=perturb)
    assert not result.passed
    failed = [r for r in result.rows if not r.passed]
    # the logits move by only ~2e-11 (sigmoids damp it), but gradients and the state do not hide it
    assert {"input gradient", "gradient of 0.weight", "after 2 steps: 0.weight"} <= {r.check for r in failed}
    worst_state = max((r for r in failed if r.check.startswith("after ")), key=lambda r: r.max_rel)
    assert worst_state.check == "after 2 steps: 0.weight"  # the guilty tensor, by name
    assert result.first_divergence.startswith("layer 0:")  # and the layer it lives in


def test_a_wrong_batchnorm_momentum_is_caught_in_the_running_statistics():
    from parity.check import check_network
    from torch_impl.gluon_layers import BatchNorm

    def torch_convention(module):
        for m in module.modules():
            if isinstance(m, BatchNorm):
                m.momentum = 0.1  # PyTorch's meaning copied into a Gluon-convention layer

    result, = check_network(registry.get("bn_lenet_concise"), dtypes=("float64",), tamper=torch_convention)
    failed = _failed(result)
    assert "after 2 steps: 1.running_mean" in failed and "after 2 steps: 1.running_var" in failed
    assert "predict output" not in failed and "train output" not in failed  # the first step is still right


def test_a_missing_flatten_is_caught_at_its_layer():
    from torch import nn

    from parity.check import check_network

    def drop_flatten(module):
        module[6] = nn.Identity()

    result, = check_network(registry.get("lenet_d2l"), dtypes=("float64",), tamper=drop_flatten)
    assert not result.passed and result.error
    assert "torch forward fails in layer 7" in result.first_divergence


def test_a_swapped_pooling_mode_is_caught_at_its_layer():
    from torch import nn

    from parity.check import check_network

    def avg_for_max(module):
        module[3] = nn.AvgPool2d(kernel_size=2, stride=2)

    result, = check_network(registry.get("bn_lenet_concise"), dtypes=("float64",), tamper=avg_for_max)
    assert "predict output" in _failed(result)
    assert result.first_divergence.startswith("layer 3:")


def test_float32_is_judged_against_float64(tmp_path):
    """A float32 perturbation far beyond rounding fails even the float64-relative criterion."""
    from parity.check import check_network

    def perturb(module):
        with __import__("torch").no_grad():
            module[0].weight.mul_(1.01)

    result, = check_network(registry.get("lenet"), dtypes=("float32",), tamper=perturb)
    rows = {r.check: r for r in result.rows}
    assert not rows["predict output"].passed
    assert "vs float64" in rows["predict output"].tolerance


def test_cli_reports_and_exit_code(tmp_path):
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "parity", "check", "lenet", "--dtype", "float64", "--steps", "3",
                           "--markdown", str(md), "--json", str(js)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1/1 network checks passed; wall time" in proc.stdout
    data = json.loads(js.read_text())
    assert data["passed"] and data["results"][0]["steps"] == 3
    assert any(r["check"] == "after 3 steps: 6.weight" for r in data["results"][0]["rows"])
    assert "| predict output |" in md.read_text()
    proc = subprocess.run([sys.executable, "-m", "parity", "check", "resnet50"], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 2 and "valid names: lenet" in proc.stderr
