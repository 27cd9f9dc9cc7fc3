"""The API keeps its contract: bad arguments are ValueErrors naming the valid values, the models come
back exactly as they came, bad builders are usage errors naming what came back (issue: Reliability II).

Small inline pairs (``parity_tests/port_builders.py``): a check of one takes a second or two.
"""
import numpy as np
import pytest

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import needs_both
from parity_tests.port_builders import INPUT

pytestmark = needs_both

B = "parity_tests.port_builders:"


def pair():
    from parity_tests.port_builders import tiny_gluon, tiny_torch

    return tiny_gluon(), tiny_torch()


#: (keyword arguments of check_pair, what the ValueError must say)
BAD_ARGUMENTS = [
    ({"dtypes": "float64"}, "dtypes must be a tuple of dtype names from ('float32', 'float64')"),
    ({"dtypes": ()}, "nothing would be checked"),
    ({"dtypes": ("float16",)}, "one or both of ('float32', 'float64'); got ('float16',)"),
    ({"dtypes": ("int8",)}, "got ('int8',)"),
    ({"input_shape": "188"}, "a tuple of 1 to 4 positive integers, e.g. (3, 224, 224); got '188' (a str)"),
    ({"input_shape": (1, 0, 8)}, "got (1, 0, 8)"),
    ({"input_shape": (1, 8.0, 8)}, "got (1, 8.0, 8)"),
    ({"input_shape": ()}, "got ()"),
    ({"input_shape": (1, 1, 1, 8, 8)}, "got (1, 1, 1, 8, 8)"),
    ({"device": "tpu"}, "device must be one of ('cpu', 'gpu'); got 'tpu'"),
    ({"device": "cuda"}, "got 'cuda'"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1; got 0"),
    ({"batch_size": 2.5}, "got 2.5"),
    ({"batch_size": True}, "got True"),
    ({"batch_size": None}, "got None"),  # found by test_properties.py: a TypeError from numpy
    ({"batch_size": 1}, "batch size 1: the model has BatchNorm"),
    ({"batch_size": 2**30}, "MXNet (built without USE_INT64_TENSOR_SIZE) indexes at most"),
    ({"steps": 0}, "steps must be an integer >= 1 and at most 1000; got 0"),
    ({"steps": 10**9}, "got 1000000000"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"input_sizes": "96"}, "input_sizes must be a list of positive integers"),
    ({"input_sizes": [0]}, "input_sizes must be positive integers"),
    ({"input_sizes": [10**6]}, "the input at size 1000000"),
]


@pytest.mark.parametrize("kwargs,message", BAD_ARGUMENTS, ids=[repr(k) for k, _ in BAD_ARGUMENTS])
def test_bad_arguments_are_value_errors_naming_the_valid_values(kwargs, message):
    from modern_cnns.parity import check_pair

    block, module = pair()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    kwargs = {"input_shape": INPUT, **kwargs}
    with pytest.raises(ValueError) as raised:
        check_pair(block, module, kwargs.pop("input_shape"), **kwargs)
    assert message in str(raised.value), str(raised.value)
    assert all(v.equal(before[k]) for k, v in module.state_dict().items())  # refused before any work


def test_check_network_validates_its_arguments_too():
    from modern_cnns.parity import check_network
    from modern_cnns.parity.catalog import registry

    for kwargs, message in [({"dtypes": ("float16",)}, "('float16',)"), ({"device": "tpu"}, "'tpu'"),
                            ({"steps": 0}, "steps must be"),
                            ({"batch_size": 1}, "batch size 1: the model has BatchNorm")]:
        with pytest.raises(ValueError, match=None) as raised:
            check_network(registry.get("bn_lenet_concise_d2l_stock"), **kwargs)
        assert message in str(raised.value)


def _torch_state(module):
    return {"params": [(n, p.detach().clone(), p.dtype, p.device, p.requires_grad,
                        None if p.grad is None else p.grad.clone()) for n, p in module.named_parameters()],
            "buffers": {n: b.clone() for n, b in module.named_buffers()},
            "training": [(n, m.training) for n, m in module.named_modules()]}


def _gluon_state(block):
    params = block.collect_params()
    return {n: (p.data().asnumpy(), p.dtype, p.list_ctx(), p.grad_req,
                None if p.grad_req == "null" else p.grad().asnumpy()) for n, p in params.items()}


def _assert_same_torch(after, before):
    for (name, value, dtype, device, requires_grad, grad), (_, value2, dtype2, device2, rg2, grad2) in \
            zip(before["params"], after["params"]):
        assert (dtype, device, requires_grad) == (dtype2, device2, rg2), name
        assert value.equal(value2), name
        assert (grad is None) == (grad2 is None) and (grad is None or grad.equal(grad2)), name
    assert before["buffers"].keys() == after["buffers"].keys()
    assert all(before["buffers"][n].equal(after["buffers"][n]) for n in before["buffers"])
    assert before["training"] == after["training"]


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_both_models_come_back_exactly_as_they_came(mode):
    """Before: an eval-mode port came back in train mode with every .grad set, and its next inference
    moved its BatchNorm statistics."""
    import torch

    from modern_cnns.parity import check_pair

    block, module = pair()
    if mode == "eval":
        module.eval()
    else:  # train mode with one submodule in eval, a frozen parameter and a gradient already set
        module.train()
        module[1].eval()
        module[0].bias.requires_grad_(False)
        module[3].weight.grad = torch.full_like(module[3].weight, 0.25)
        block[0].bias.grad_req = "null"
        block[3].weight.grad()[:] = 0.5
    torch_before, gluon_before = _torch_state(module), _gluon_state(block)
    result, = check_pair(block, module, INPUT, dtypes=("float64",))  # float32 models: cast and cast back
    assert result.passed, [r.check for r in result.rows if not r.passed]
    _assert_same_torch(_torch_state(module), torch_before)
    gluon_after = _gluon_state(block)
    for name, (value, dtype, ctx, grad_req, grad) in gluon_before.items():
        value2, dtype2, ctx2, grad_req2, grad2 = gluon_after[name]
        assert (dtype, ctx, grad_req) == (dtype2, ctx2, grad_req2), name
        assert np.array_equal(value, value2) and (grad is None or np.array_equal(grad, grad2)), name
    if mode == "eval":  # the next inference of an eval-mode port moves no statistic
        stats = module[1].running_mean.clone()
        with torch.no_grad():
            module(torch.rand(2, *INPUT))
        assert module[1].running_mean.equal(stats)
        assert all(p.grad is None for p in module.parameters())


def test_a_lazy_torch_port_is_materialised_as_convert_does(tmp_path):
    """nn.LazyConv2d/LazyLinear: a traceback in check_pair before, while convert handled the same pair."""
    from modern_cnns.parity import check_pair
    from modern_cnns.parity.weights.checkpoint import convert, save_gluon
    from parity_tests.port_builders import tiny_gluon, tiny_torch_lazy

    block = tiny_gluon()
    for result in check_pair(block, tiny_torch_lazy(), INPUT, positional=True):
        assert result.passed, (result.dtype, [r.check for r in result.rows if not r.passed])
    save_gluon(block, tmp_path / "m.params")
    with pytest.raises(Exception) as raised:  # convert pairs by name: the Flatten shifts the Linear's index
        convert((tiny_gluon, tiny_torch_lazy, (1, *INPUT)), tmp_path / "m.params", tmp_path / "m.pt")
    assert "4.weight" in str(raised.value)


BAD_BUILDERS = [
    ("returns_none", "tiny_torch", "--gluon parity_tests.port_builders:returns_none returned None; expected a Gluon "
                                   "model (an instance of mxnet.gluon.Block"),
    ("returns_a_class", "tiny_torch", "returned the class mxnet.gluon.nn.basic_layers.HybridSequential (not an "
                                      "instance: call it)"),
    ("returns_a_str", "tiny_torch", "returned a str 'tiny_gluon'; expected a Gluon model"),
    ("tiny_torch", "tiny_gluon", "--gluon parity_tests.port_builders:tiny_torch returned a torch.nn.Module "
                                 "(Sequential); expected a Gluon model (an instance of mxnet.gluon.Block, e.g. "
                                 "nn.HybridSequential()) (are the two swapped?)"),
    ("tiny_gluon", "returns_none", "--torch parity_tests.port_builders:returns_none returned None; expected a "
                                   "PyTorch model"),
    ("no_parameters_gluon", "no_parameters_torch", "returned a Gluon Block (HybridSequential) with no parameters"),
]


@pytest.mark.parametrize("command", ["check", "suggest-map", "convert"])
@pytest.mark.parametrize("gluon,torch_,message", BAD_BUILDERS, ids=[f"{g}-{t}" for g, t, _ in BAD_BUILDERS])
def test_bad_builders_are_usage_errors_naming_what_came_back(command, gluon, torch_, message, tmp_path):
    files = [str(tmp_path / "m.params"), str(tmp_path / "m.pt")] if command == "convert" else []
    code, out, err = run_main(command, "--gluon", B + gluon, "--torch", B + torch_, "--input", "1,8,8", *files)
    assert code == 2, (code, out, err)
    assert err.startswith("error: ") and message in err, err
    assert "Traceback" not in err


def test_check_pair_refuses_bad_models_with_a_value_error():
    from modern_cnns.parity import check_pair

    block, module = pair()
    for args, message in [((None, module), "gluon_block is None; expected a Gluon model"),
                          ((module, block), "gluon_block is a torch.nn.Module (Sequential)"),
                          ((block, "tiny"), "torch_module is a str 'tiny'; expected a PyTorch model")]:
        with pytest.raises(ValueError) as raised:
            check_pair(*args, INPUT)
        assert message in str(raised.value)


def test_batch_size_one_on_a_batchnorm_network_is_a_usage_error_not_a_parity_fail():
    """BatchNorm over one example: torch's BatchNorm1d refuses to train, Gluon divides by sqrt(eps)."""
    code, out, err = run_main("check", "bn_lenet_concise_d2l_stock", "--batch-size", "1")
    assert code == 2 and "error: batch size 1: the model has BatchNorm" in err, (code, out, err)
    assert "FAIL" not in out


def test_a_batch_mxnet_cannot_index_is_refused_up_front():
    code, out, err = run_main("check", "lenet", "--batch-size", "2800000")  # 2.8e6 x 784 >= 2^31 elements
    assert code == 2 and "has 2,195,200,000 elements; MXNet" in err and "indexes at most 2,147,483,646" in err, err


def _parity_under_memory_limit(limit_mb, *argv):
    """``python -m parity ARGV`` in a process whose address space is capped (``ulimit -v``): real allocation
    failures, cheaply.  At the default thread counts: the caps are sized for them (with MXNet on one OpenMP
    thread, as an xdist worker sets, numpy's 299 MiB input of the Gluon case no longer fit under 2000 MB)."""
    import os
    import resource
    import subprocess
    import sys

    from modern_cnns.parity.frameworks import THREAD_VARS
    from parity_tests.conftest import REPO

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * 2**20, limit_mb * 2**20))

    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    return subprocess.run([sys.executable, "-m", "parity", *argv], cwd=REPO, env=env, preexec_fn=cap,
                          capture_output=True, text=True, timeout=600)


def test_running_out_of_memory_inside_a_check_is_an_error_not_a_parity_fail():
    """It was reported as lenet FAILing: the check caught MXNet's allocation failure as 'the pair raised'."""
    proc = _parity_under_memory_limit(2000, "check", "lenet", "--batch-size", "20000", "--dtype", "float64",
                                      "--steps", "1", "--jobs", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert proc.stderr.startswith("error: not enough memory (") and "Traceback" not in proc.stderr, proc.stderr
    assert "FAIL" not in proc.stdout and "passed" not in proc.stdout, proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("framework,batch,words", [("torch", "50000", "DefaultCPUAllocator: can't allocate memory"),
                                                   ("gluon", "100000", "Failed to allocate CPU Memory")])
def test_each_frameworks_allocation_failure_is_one_error_line(framework, batch, words):
    """Batches that fit numpy's input under the cap and not the framework's first layer outputs."""
    proc = _parity_under_memory_limit(2000, "summary", "lenet", "--framework", framework, "--batch-size", batch)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert proc.stderr.startswith("error: not enough memory (") and words in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def test_an_input_size_neither_framework_runs_is_a_usage_error_not_a_finding():
    """It made a correct port FAIL with 'a layer depends on the input size in one framework only'."""
    from modern_cnns.parity import check_pair

    with pytest.raises(ValueError) as raised:
        check_pair(*pair(), INPUT, dtypes=("float64",), input_sizes=[16])
    assert "input size 16 (1x16x16): neither framework runs the models at it (Gluon: " in str(raised.value)
    code, out, err = run_main("check", "--gluon", B + "tiny_gluon", "--torch", B + "tiny_torch", "--input", "1,8,8",
                              "--input-sizes", "2", "--dtype", "float64")
    assert code == 2 and err.startswith("error: input size 2 (1x2x2): neither framework runs"), (code, out, err)


def test_an_input_size_only_one_framework_runs_stays_a_finding():
    from modern_cnns.parity import check_pair
    from parity_tests.port_builders import fixed_pool_torch, pooled_gluon

    result, = check_pair(pooled_gluon(), fixed_pool_torch(), INPUT, dtypes=("float64",), positional=True,
                         input_sizes=[14])
    failed = [str(r.check) for r in result.rows if not r.passed]
    assert failed == ["predict output at 1x14x14"], failed
    assert any("depends on the input size in one framework only" in d for d in result.diagnosis), result.diagnosis


@pytest.mark.parametrize("kind", ["tuple", "list", "dict"])
def test_models_returning_several_outputs_are_compared_element_by_element(kind):
    """A Gluon model returning a tuple was a traceback; each output is now a check of its own."""
    from modern_cnns.parity import check_pair
    from parity_tests.port_builders import _gluon_two_heads, _torch_two_heads

    names = ("['logits']", "['aux']") if kind == "dict" else ("[0]", "[1]")
    result, = check_pair(_gluon_two_heads(kind), _torch_two_heads(kind), INPUT, dtypes=("float64",))
    checks = [str(r.check) for r in result.rows]
    assert all(f"{mode} output{n}" in checks for mode in ("predict", "train") for n in names), checks
    assert result.passed, [r.check for r in result.rows if not r.passed]
    # a port whose second output differs fails on that output, and only its rows
    result, = check_pair(_gluon_two_heads(kind), _torch_two_heads(kind, aux_scale=1.5), INPUT, dtypes=("float64",))
    failed = [str(r.check) for r in result.rows if not r.passed]
    assert f"predict output{names[1]}" in failed and f"predict output{names[0]}" not in failed, failed
    assert f"train output{names[1]}" in failed and f"train output{names[0]}" not in failed, failed


def test_the_cli_checks_a_pair_returning_tuples():
    code, out, err = run_main("check", "--gluon", B + "two_heads_gluon", "--torch", B + "two_heads_torch",
                              "--input", "1,8,8", "--dtype", "float64")
    assert code == 0 and "1/1 checks passed" in out, (code, out, err)


def test_an_input_shape_the_models_cannot_take_is_a_usage_error():
    """Found by test_properties.py: an initialised Gluon block given --input 1,8 was an MXNet traceback."""
    code, out, err = run_main("check", "--gluon", B + "tiny_gluon", "--torch", B + "tiny_torch", "--input", "1,8")
    assert code == 2 and err.startswith("error: the Gluon model cannot run one sample of shape (1, 8): "), err
    assert "Traceback" not in err


def test_suggest_map_and_convert_validate_their_arguments_too(tmp_path):
    from modern_cnns.parity import suggest_map
    from modern_cnns.parity.weights.checkpoint import convert, save_gluon
    from parity_tests.port_builders import returns_none, tiny_gluon, tiny_torch

    block, module = pair()
    for args, message in [((block, module, "188"), "got '188' (a str)"),
                          ((module, block, INPUT), "are the two swapped"),
                          ((block, None, INPUT), "torch_module is None")]:
        with pytest.raises(ValueError) as raised:
            suggest_map(*args)
        assert message in str(raised.value)
    save_gluon(tiny_gluon(), tmp_path / "m.params")
    with pytest.raises(ValueError) as raised:
        convert((tiny_gluon, returns_none, (1, *INPUT)), tmp_path / "m.params", tmp_path / "m.pt")
    assert "the torch builder returned None; expected a PyTorch model" in str(raised.value)
    assert not (tmp_path / "m.pt").exists()
    assert convert((tiny_gluon, tiny_torch, (1, *INPUT)), tmp_path / "m.params", tmp_path / "m.pt").mapped


def test_batches_that_cannot_fit_in_memory_are_refused_before_they_are_drawn():
    """The check draws its batches up front: 627 GB of them filled the memory, one batch at a time."""
    code, out, err = run_main("check", "lenet", "--steps", "1000", "--batch-size", "100000")
    assert code == 1 and err.startswith("error: not enough memory (1000 batches of 100000x1x28x28 float64 inputs "
                                        "need 627 GB before any model runs; "), err
