"""convert: float16 and bfloat16 checkpoints converted, tensors without plain values refused, usage errors
exit 2 (issue: Reliability II)."""
import numpy as np
import pytest

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import needs_both

pytestmark = needs_both


def lenet_state(dtype):
    import torch

    from modern_cnns.parity.catalog import registry

    torch.manual_seed(0)
    return {k: v.to(dtype) for k, v in registry.get("lenet").build_torch().state_dict().items()}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_checkpoints_are_converted_bfloat16_through_float32(dtype, tmp_path):
    """bfloat16 was a traceback (numpy has no bfloat16); widening to float32 is exact."""
    import torch

    from modern_cnns.parity.weights.checkpoint import read_gluon

    state = lenet_state(getattr(torch, dtype))
    torch.save(state, tmp_path / "m.pt")
    code, out, err = run_main("convert", "--model", "lenet", tmp_path / "m.pt", tmp_path / "m.params")
    assert code == 0, (out, err)
    noted = [line for line in out.splitlines() if line.startswith("note: ")]
    if dtype == "bfloat16":
        assert noted == [f"note: {len(state)} bfloat16 tensor(s) read through float32 (exact), then stored in the "
                         "destination's dtype: 0.weight, 0.bias, 2.weight, 2.bias, ..."], out
    else:
        assert noted == [], out
    converted = read_gluon(tmp_path / "m.params")
    for name, tensor in state.items():
        assert np.array_equal(converted[name], tensor.float().numpy()), name


def _save_with_first_tensor(path, make):
    import torch

    state = lenet_state(torch.float32)
    first = next(iter(state))
    state[first] = make(state[first])
    torch.save(state, path)


REFUSED = {
    "quantized": (lambda t: __import__("torch").quantize_per_tensor(t, 0.1, 0, __import__("torch").qint8),
                  "0.weight is a quantized tensor (qint8); convert moves float weights: save tensor.dequantize()"),
    "meta": (lambda t: t.to("meta"), "0.weight is a meta tensor: a shape without values"),
    "sparse": (lambda t: t.to_sparse(), "0.weight is a sparse tensor (sparse_coo); save tensor.to_dense() instead"),
}


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
@pytest.mark.parametrize("kind", list(REFUSED))
def test_tensors_without_plain_values_are_refused_with_an_error_line(kind, tmp_path):
    make, message = REFUSED[kind]
    _save_with_first_tensor(tmp_path / "m.pt", make)
    code, out, err = run_main("convert", "--model", "lenet", tmp_path / "m.pt", tmp_path / "m.params")
    assert code == 1 and err.startswith("error: ") and message in err, (code, err)
    assert not (tmp_path / "m.params").exists()


def test_convert_usage_errors_exit_2(tmp_path):
    """They exited 1, as a damaged file does; nothing was read."""
    (tmp_path / "a.pt").write_bytes(b"")
    for argv, message in [(["missing.pt", "b.params"], "missing.pt: no such file"),
                          (["a.pt", "b.npz"], "unknown checkpoint extension '.npz'"),
                          (["a.pt", "b.pt"], "are both torch checkpoints"),
                          ([".", "b.params"], "unknown checkpoint extension ''")]:
        code, out, err = run_main("convert", "--model", "lenet", *[tmp_path / a for a in argv])
        assert code == 2 and err.startswith("error: ") and message in err, (argv, code, err)
