"""``check --inputs FILE.npy`` and ``--gluon-params FILE.params`` (API ``inputs=``, ``gluon_params=``):
they reach the check, and a bad file is one ``error:`` line, exit 2, before any check runs."""
import numpy as np
import pytest

from parity_tests import port_builders
from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import needs_both

pytestmark = needs_both

PAIR = ("--gluon", "parity_tests.port_builders:tiny_gluon", "--torch")
FAST = ("--dtype", "float64", "--steps", "1")


def _save(path, array):
    np.save(path, array)
    return path


def _lenet_params(tmp_path, seed=3):
    """The registry's LeNet, initialised from another seed and saved: weights the checker would not draw."""
    from modern_cnns.parity.catalog import registry
    from modern_cnns.parity.verdict.pair import build_gluon

    block = build_gluon(registry.get("lenet"), "float32", "cpu", seed)
    path = tmp_path / "lenet.params"
    block.save_parameters(str(path))
    return path, block


def test_user_inputs_are_the_batch_of_the_check(tmp_path):
    """A port that clips its input at 0 passes on the checker's own inputs (all >= 0, at every probe scale) and
    fails on the user's, which hold negative values."""
    port = "parity_tests.port_builders:tiny_torch_nonnegative_inputs"
    code, out, err = run_main("check", *PAIR, port, "--input", "1,8,8", *FAST)
    assert code == 0, out + err
    inputs = _save(tmp_path / "x.npy", np.random.default_rng(1).normal(size=(3, *port_builders.INPUT)))
    code, out, err = run_main("check", *PAIR, port, "--inputs", inputs, *FAST)  # --input comes from the array
    assert code == 1 and "FAIL predict output:" in out, out + err


def test_user_inputs_for_a_registry_network_pass_a_correct_port(tmp_path):
    inputs = _save(tmp_path / "x.npy", np.random.default_rng(2).normal(size=(3, 1, 28, 28)).astype(np.float32))
    code, out, err = run_main("check", "lenet", "--inputs", inputs, *FAST)
    assert code == 0 and "1/1 network checks passed" in out, out + err


def test_trained_gluon_weights_are_what_the_port_is_checked_with(tmp_path):
    """The weights the port holds right after the transfer are the file's (``tamper`` sees the port then)."""
    from modern_cnns.parity.catalog import registry
    from modern_cnns.parity.verdict.check import check_network

    path, saved = _lenet_params(tmp_path)
    seen = []
    results = check_network(registry.get("lenet"), dtypes=("float64",), steps=1, gluon_params=str(path),
                            tamper=lambda module: seen.append(module[0].weight.detach().numpy().copy()))
    assert results[0].passed, [r.check for r in results[0].rows if not r.passed]
    assert seen and np.array_equal(seen[0], saved[0].weight.data().asnumpy().astype(np.float64))
    code, out, err = run_main("check", "lenet", "--gluon-params", path, *FAST)
    assert code == 0 and "1/1 network checks passed" in out, out + err


def test_trained_gluon_weights_of_a_user_pair_are_used_and_the_block_comes_back_with_its_own(tmp_path):
    import torch

    from modern_cnns.parity import check_pair

    trained = port_builders.tiny_gluon()
    trained[0].weight.set_data(trained[0].weight.data() * 3 + 0.5)
    path = tmp_path / "tiny.params"
    trained.save_parameters(str(path))
    block, module = port_builders.tiny_gluon(), port_builders.tiny_torch()
    own = block[0].weight.data().asnumpy().copy()
    seen = []
    module[0].register_forward_hook(lambda mod, i, o: seen.append(mod.weight.detach().to(torch.float32).numpy().copy()))
    result, = check_pair(block, module, port_builders.INPUT, dtypes=("float64",), steps=1, gluon_params=path)
    assert result.passed
    assert np.allclose(seen[0], trained[0].weight.data().asnumpy()) and not np.allclose(seen[0], own)
    assert np.array_equal(block[0].weight.data().asnumpy(), own)


def _one_error(code, out, err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
    assert "Traceback" not in err
    return lines[0]


def _bad_inputs(tmp_path, kind):
    path = tmp_path / "x.npy"
    good = np.random.default_rng(0).uniform(size=(2, 1, 28, 28))
    if kind == "missing":
        return tmp_path / "nothing.npy"
    if kind == "shape":
        np.save(path, good[:, :, :27])
    elif kind == "nan":
        good[1, 0, 3, 4] = np.nan
        np.save(path, good)
    elif kind == "objects":
        np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    elif kind == "text":
        path.write_text("1,2,3\n")
    elif kind == "empty batch":
        np.save(path, good[:0])
    elif kind == "bool":
        np.save(path, good > 0.5)
    elif kind == "npz":
        path = tmp_path / "x.npz"
        np.savez(path, a=good, b=good)
    return path


@pytest.mark.parametrize("kind, says", [
    ("missing", "no such file"), ("shape", "has shape (2, 1, 27, 28); the model takes (N, 1, 28, 28)"),
    ("nan", "not finite"), ("objects", "not a numpy array file"), ("text", "not a numpy array file"),
    ("empty batch", "no sample"), ("bool", "dtype bool"), ("npz", ".npz archive")])
def test_bad_inputs_are_one_error_line_and_exit_2(tmp_path, kind, says):
    line = _one_error(*run_main("check", "lenet", "--inputs", _bad_inputs(tmp_path, kind), *FAST))
    assert says in line, line


def test_inputs_and_a_different_batch_size_are_refused(tmp_path):
    inputs = _save(tmp_path / "x.npy", np.zeros((3, 1, 28, 28)))
    assert "the inputs are the batch" in _one_error(*run_main("check", "lenet", "--inputs", inputs,
                                                              "--batch-size", "2", *FAST))


def test_the_api_refuses_bad_inputs_and_weights(tmp_path):
    from modern_cnns.parity import check_pair
    from modern_cnns.parity.verdict.contract import ContractError

    block, module = port_builders.tiny_gluon(), port_builders.tiny_torch()
    for bad in ([[0.0]], np.full((2, *port_builders.INPUT), np.inf), np.zeros((2, 1, 8)), np.zeros((2, 3, 8, 8))):
        with pytest.raises(ContractError):
            check_pair(block, module, port_builders.INPUT, dtypes=("float64",), inputs=bad)
    with pytest.raises(ContractError, match="no such file"):
        check_pair(block, module, port_builders.INPUT, dtypes=("float64",), gluon_params=tmp_path / "none.params")


@pytest.mark.parametrize("kind, says", [("missing", "no such file"), ("truncated", "cannot load it"),
                                        ("other network", "cannot load it"), ("not params", "cannot load it")])
def test_bad_gluon_params_are_one_error_line_and_exit_2(tmp_path, kind, says):
    path = tmp_path / "w.params"
    if kind == "truncated":
        full, _ = _lenet_params(tmp_path)
        path.write_bytes(full.read_bytes()[:len(full.read_bytes()) // 2])
    elif kind == "other network":
        port_builders.tiny_gluon().save_parameters(str(path))
    elif kind == "not params":
        path.write_text("not a parameter file\n")
    line = _one_error(*run_main("check", "lenet", "--gluon-params", path, *FAST))
    assert says in line, line


def test_a_user_pair_with_weights_of_another_model_is_refused(tmp_path):
    path, _ = _lenet_params(tmp_path)
    line = _one_error(*run_main("check", *PAIR, "parity_tests.port_builders:tiny_torch", "--input", "1,8,8",
                                "--gluon-params", path, *FAST))
    assert "cannot load it" in line, line


def test_gluon_params_name_one_network(tmp_path):
    path, _ = _lenet_params(tmp_path)
    assert "name one network" in _one_error(*run_main("check", "lenet", "lenet_d2l", "--gluon-params", path, *FAST))


def _clashes(tmp_path):
    """(options, the file the clash would destroy): outputs named as inputs, or as each other."""
    params, _ = _lenet_params(tmp_path)
    inputs = _save(tmp_path / "x.npy", np.random.default_rng(0).uniform(size=(2, 1, 28, 28)))
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    old_map = tmp_path / "map.json"
    old_map.write_text('{"a": "b"}')
    report = tmp_path / "same.md"
    auto = (*PAIR, "parity_tests.port_builders:tiny_torch", "--input", "1,8,8", "--map", "auto")  # --save-map's
    return [
        ((*auto, "--gluon-params", params, "--save-map", params), params),
        (("lenet", "--gluon-params", params, "--json", params), params),
        (("lenet", "--inputs", inputs, "--layers-png", inputs), inputs),
        (("lenet", "--markdown", report, "--layers-png", report), None),
        (("lenet", "--json", tmp_path / "r.json", "--markdown", tmp_path / "q", "--layers-png",
          tmp_path / "r.json"), None),
        (("lenet", "--layers-png", notes), notes),  # a file this tool did not draw
        ((*auto, "--save-map", old_map), old_map),  # a map is never written over a file
    ]


def test_no_output_is_written_over_an_input_another_output_or_a_file_the_tool_did_not_write(tmp_path):
    """Found by a user: --save-map over the --gluon-params it then loaded, a figure over the --inputs."""
    for options, kept in _clashes(tmp_path):
        before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        line = _one_error(*run_main("check", *options, *FAST))
        assert "--" in line, line
        after = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        assert after == before, (options, set(after) ^ set(before))  # nothing written, nothing replaced
        assert kept is None or kept in before
