"""Hostile inputs a new user gave ``check`` (issue #22, items 2, 7, 8): extreme or degenerate ``--inputs``,
damaged files, options that would be ignored, a closed stdout, names that break a table.

Each test failed before its fix (docs/RELIABILITY.md, "Fourth pass")."""
import numpy as np
import pytest

from parity_tests.cli_inprocess import run_main
from parity_tests.conftest import needs_both

PAIR = ("--gluon", "parity_tests.port_builders:tiny_gluon", "--torch", "parity_tests.port_builders:tiny_torch")


def _save(path, array):
    np.save(path, array)
    return path


def _one_error(code, out, err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
    return lines[0]


# --------------------------------------------------------------------------- the sensitivity nudge of a zero
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_zero_is_nudged_by_a_step_later_operations_see(dtype):
    """The ulp of 0 is the smallest denormal: every later sum absorbs it, so the nudge moved nothing."""
    from modern_cnns.parity.verdict.check import nudge, nudge_rng

    zeros = np.zeros((2, 1, 4, 4))
    moved = nudge(zeros, dtype, nudge_rng(0))
    assert np.all(np.abs(moved) >= np.finfo(dtype).eps), moved
    mixed = np.array([0.0, 0.5, 2.0, -3.0])
    moved = nudge(mixed, dtype, nudge_rng(0))
    assert abs(moved[0]) == np.spacing(np.asarray(3.0, dtype))  # one ulp of the batch's largest magnitude
    ulps = np.abs(moved[1:] - mixed[1:].astype(dtype)) / np.spacing(np.abs(mixed[1:]).astype(dtype))
    assert np.all((ulps > 0) & (ulps <= 1)), ulps  # a non-zero still moves by its own ulp (one, or half below 2^k)


@needs_both
def test_all_zero_inputs_pass_a_correct_float64_port(tmp_path):
    """bn_lenet_scratch on zeros: its BatchNorm normalises a constant batch (ill-conditioned); the port differs by
    ~1e-8, which the original's own change under a real nudge explains (and a denormal nudge did not)."""
    inputs = _save(tmp_path / "zeros.npy", np.zeros((2, 1, 28, 28)))
    code, out, err = run_main("check", "bn_lenet_scratch", "--inputs", inputs, "--dtype", "float64", "--steps", "1",
                              "--jobs", "1")
    assert code == 0 and "1/1 network checks passed" in out, out + err


# --------------------------------------------------------------------------- inputs near a dtype's range
def big_dense_gluon():
    """One Dense of weights 5 to 15: its output overflows float32 at 10x a 1e37 input, not at 1x."""
    import mxnet as mx
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    weights = mx.nd.array(np.linspace(5.0, 15.0, 5 * 64).reshape(5, 64))
    net.add(nn.Dense(5, in_units=64, weight_initializer=mx.init.Constant(weights)))
    net.initialize()
    return net


def big_dense_torch():
    from torch import nn

    from modern_cnns.torch_impl.gluon_layers import Dense

    return nn.Sequential(Dense(5, in_units=64))


def _one_huge_value(shape, value):
    """Uniform [0, 1) with one element ``value`` (float32): no sum adds two huge terms, so no layer overflows
    at 1x or 10x on any CPU, whatever the order of its sums; 30x leaves float32."""
    x = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    x.flat[5] = value
    return x


@needs_both
def test_a_probe_beyond_float32s_range_is_skipped_and_named_not_failed(tmp_path):
    inputs = _save(tmp_path / "x.npy", _one_huge_value((2, 1, 28, 28), 3e37))
    code, out, err = run_main("check", "lenet", "--inputs", inputs, "--dtype", "float32", "--steps", "1",
                              "--jobs", "1", "--json", tmp_path / "r.json")
    assert code == 0 and "1/1 network checks passed" in out, out + err
    assert "skipped probe: predict output (input x30): the input x30 reaches 9e+38, beyond float32's largest" in out
    assert "clips or saturates" not in out
    import json

    result, = json.loads((tmp_path / "r.json").read_text())["results"]
    assert "predict output (input x30)" in result["skipped_probes"]
    assert "predict output (input x30)" not in [row["check"] for row in result["rows"]]
    assert "predict output (input x10)" in [row["check"] for row in result["rows"]]


@needs_both
def test_a_probe_on_which_the_originals_output_overflows_is_skipped_and_named(tmp_path):
    inputs = _save(tmp_path / "x.npy", _one_huge_value((2, 1, 8, 8), 1e37))
    me = "parity_tests.test_hostile_check_inputs"
    code, out, err = run_main("check", "--gluon", f"{me}:big_dense_gluon", "--torch", f"{me}:big_dense_torch",
                              "--inputs", inputs, "--steps", "1")
    assert code == 0 and "2/2 checks passed" in out, out + err
    for scale in ("x10", "x30"):
        assert f"skipped probe: predict output (input {scale}): the original's own float32 output is not finite " \
               f"at input scale {scale}" in out, out
    assert out.count("skipped probe") == 2, out  # float64 holds 1e39: it runs both probes


@needs_both
@pytest.mark.parametrize("dtype, says", [
    ("both", "the inputs reach 1e+200, beyond float32's largest value"),
    ("float64", "the original's output is not finite on these inputs (float64 ")])
def test_inputs_on_which_the_original_cannot_compute_are_refused(tmp_path, dtype, says):
    inputs = _save(tmp_path / "x.npy", np.full((2, 1, 8, 8), 1e200))
    line = _one_error(*run_main("check", *PAIR, "--inputs", inputs, "--dtype", dtype, "--steps", "1"))
    assert says in line, line


# --------------------------------------------------------------------------- damaged or huge files
def _header_only(path, shape, dtype="<f4"):
    """A .npy header claiming ``shape``, and no data: numpy would allocate it all before finding out."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(f, {"descr": dtype, "fortran_order": False, "shape": shape})
    return path


@needs_both
@pytest.mark.parametrize("shape, says", [
    ((3, 1, 2**15, 2**15), "3,221,225,472 values (shape (3, 1, 32768, 32768)), more than a check can hold"),
    ((2**31, 1, 28, 28), "1,683,627,180,032 values (shape (2147483648, 1, 28, 28))"),  # right sample shape, too many
    ((2, 1, 2**15, 2**15), "has shape (2, 1, 32768, 32768); the model takes (N, 1, 28, 28)")])
def test_a_huge_inputs_file_is_refused_from_its_header_before_it_is_read(tmp_path, shape, says):
    path = _header_only(tmp_path / "x.npy", shape)
    line = _one_error(*run_main("check", "lenet", "--inputs", path, "--dtype", "float64", "--steps", "1"))
    assert says in line, line


@needs_both
@pytest.mark.parametrize("content, says", [(b"", "an empty file (0 bytes)"), (b"\x80\x04K\x01.", "a Python pickle"),
                                           (b"1,2,3\n", "does not start with numpy's .npy header")])
def test_a_file_that_is_no_npy_is_named_for_what_it_is(tmp_path, content, says):
    path = tmp_path / "x.npy"
    path.write_bytes(content)
    line = _one_error(*run_main("check", *PAIR, "--inputs", path, "--dtype", "float64", "--steps", "1"))
    assert says in line and "pickled" not in line, line


def _tiny_params(tmp_path, how):
    import mxnet as mx

    from parity_tests import port_builders

    net, path = port_builders.tiny_gluon(), tmp_path / "w.params"
    if how == "list":
        mx.nd.save(str(path), [p.data() for p in net.collect_params().values()])
    else:
        net[0].weight.data()[0, 0, 1, 1] = float(how)
        net.save_parameters(str(path))
    return path


@needs_both
@pytest.mark.parametrize("how, says", [
    ("list", "a list of 8 unnamed arrays (mx.nd.save of a list)"), ("nan", "0.weight holds 1 value that is not finite"),
    ("inf", "0.weight holds 1 value that is not finite")])
def test_gluon_params_that_cannot_be_checked_are_refused(tmp_path, how, says):
    line = _one_error(*run_main("check", *PAIR, "--input", "1,8,8", "--gluon-params", _tiny_params(tmp_path, how),
                                "--dtype", "float64", "--steps", "1"))
    assert says in line, line


# --------------------------------------------------------------------------- options that would be ignored
@pytest.mark.parametrize("options, says", [
    ((*PAIR, "--input", "1,8,8", "--save-map", "m.json"), "--save-map saves the map that --map auto proposes"),
    ((*PAIR, "--input", "1,8,8", "--map", "m.json", "--save-map", "n.json"), "without --map auto there is none"),
    ((*PAIR, "--input", "1,8,8", "--map", "auto", "--positional"), "--map with --positional"),
    (("lenet", "--positional"), "--positional applies to a pair of yours (--gluon/--torch)"),
    (("lenet", "--input", "1,28,28"), "--input applies to a pair of yours"),
    (("lenet", "--map", "auto"), "--map applies to a pair of yours"),
    (("lenet", "--gluon-batchnorm"), "--gluon-batchnorm applies to a pair of yours"),
    (("lenet", "--zero-frozen", "x"), "--zero-frozen applies to a pair of yours"),
    (("lenet", "--input-sizes", "32"), "--input-sizes applies to a pair of yours"),
    ((*PAIR, "--input", "1,8,8", "--jobs", "2"), "--jobs sets how many registry networks are checked side by side"),
    # refused before the builders are even imported (it came after both models were built)
    (("--gluon", "no_such_module:build", "--torch", "no_such_module:build", "--input", "1,8,8", "--accept",
      "unbiased-running-var", "no-such-difference"), "unknown --accept name(s) no-such-difference; valid: "),
    ((*PAIR, "--input", "1,8,8", "--accept", " "), "--accept: an empty name; valid: mxnet-leakyrelu-float32"),
    # the pair's own fault first: it said --jobs, then (once fixed) the missing --torch
    ((PAIR[0], PAIR[1], "--input", "1,8,8", "--jobs", "2"), "give both --gluon MODULE:CALLABLE and --torch"),
    ((*PAIR, "--accept", "no-such-difference"), "--gluon/--torch need --input C,H,W")])
def test_an_option_that_would_be_ignored_is_refused(tmp_path, monkeypatch, options, says):
    monkeypatch.chdir(tmp_path)
    line = _one_error(*run_main("check", *options, "--dtype", "float64", "--steps", "1"))
    assert says in line, line
    assert not list(tmp_path.iterdir())  # no map saved


@needs_both
def test_the_api_refuses_a_name_map_with_positional_pairing():
    from modern_cnns.parity import check_pair
    from modern_cnns.parity.verdict.ports import PortError
    from parity_tests import port_builders

    with pytest.raises(PortError, match="would ignore the map"):
        check_pair(port_builders.tiny_gluon(), port_builders.tiny_torch(), port_builders.INPUT,
                   name_map={"0.weight": "0.weight"}, positional=True, dtypes=("float64",))


@needs_both
def test_inputs_given_with_a_registry_network_are_its_batch(tmp_path):
    """``--inputs`` with a registry name is honoured, not ignored: the batch is the file's (5 samples, not the
    registry's batch size)."""
    inputs = _save(tmp_path / "x.npy", np.random.default_rng(0).uniform(size=(5, 1, 28, 28)))
    code, out, err = run_main("check", "lenet", "--inputs", inputs, "--dtype", "float64", "--steps", "1",
                              "--json", tmp_path / "r.json")
    assert code == 0, out + err
    import json

    first_layer = json.loads((tmp_path / "r.json").read_text())["results"][0]["layers"][0]
    assert first_layer["gluon shape"][0] == 5 and first_layer["torch shape"][0] == 5, first_layer


# --------------------------------------------------------------------------- output: a closed pipe, names, links
TINY = (*PAIR, "--input", "1,8,8", "--dtype", "float64", "--steps", "1")


@needs_both
def test_a_closed_stdout_ends_the_check_quietly_with_the_verdicts_code(tmp_path):
    """``check --layers | head``: the reader gone is no error of the check ("error: Broken pipe", exit 1, before).
    The read end is closed before the check writes anything, so every write meets a closed pipe."""
    import subprocess
    import sys

    from parity_tests.conftest import REPO

    report = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "parity", "check", *TINY, "--layers", "--json", str(report)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=600) == 0 and err == "", err
    import json

    assert json.loads(report.read_text())["passed"] is True  # the check went on to its end


@pytest.mark.parametrize("option", ["--layers-png", "--json", "--markdown"])
def test_a_dash_for_an_output_file_is_refused(tmp_path, monkeypatch, option):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main("check", *TINY, option, "-")
    assert code == 2 and "'-' is no file here" in err, err
    assert not list(tmp_path.iterdir())


def odd_names_torch():
    """tiny_torch with module names holding a ``|`` and a line break (torch accepts both)."""
    from collections import OrderedDict

    from parity_tests import port_builders

    return __import__("torch").nn.Sequential(OrderedDict(
        (name, child) for name, child in zip(["conv|1", "bn\nx", "relu", "dense|\r\nout"],
                                             port_builders.tiny_torch().children())))


@needs_both
def test_module_names_with_a_pipe_or_a_line_break_keep_the_markdown_tables_whole(tmp_path):
    report = tmp_path / "r.md"
    code, out, err = run_main("check", "--gluon", "parity_tests.port_builders:tiny_gluon", "--torch",
                              "parity_tests.test_hostile_check_inputs:odd_names_torch", "--input", "1,8,8",
                              "--positional", "--dtype", "float64", "--steps", "1", "--markdown", report)
    assert code == 0, out + err
    text = report.read_text()
    for cell in ("conv\\|1 (gluon 0)", "bn\\nx (gluon 1)", "dense\\|\\nout (gluon 3)"):
        assert f"| {cell} |" in text, text
    _assert_whole_tables(text)


@needs_both
def test_a_name_or_check_with_a_pipe_or_a_line_break_keeps_the_report_tables_whole():
    """The API names a pair as the caller likes (``check_pair(name=...)``); a check's name holds a module's."""
    from modern_cnns.parity.verdict.check import Result, Row
    from modern_cnns.parity.verdict.report import markdown

    row = Row("gradient of a|b\nc.weight", 1.0, 1.0, "rel <= 1e-10", False)
    text = markdown([Result("mine|yours\nv2", "cpu", "float64", 1, rows=[row]),
                     Result("broken|\r\npair", "cpu", "float64", 1, error="ValueError: x|y\nz")])
    assert "| mine\\|yours\\nv2 |" in text and "| gradient of a\\|b\\nc.weight |" in text, text
    assert "## broken\\|\\npair:" in text and "ValueError: x\\|y\\nz" in text, text
    _assert_whole_tables(text)


def _assert_whole_tables(text):
    """Every row of every Markdown table has its header's number of cells (no ``|`` or line break split one)."""
    import re

    columns = None
    for line in text.splitlines():
        if not line.startswith("|"):
            columns = None  # a table ends at its first line that is no row
            continue
        cells = len(re.findall(r"(?<!\\)\|", line))
        columns = columns or cells
        assert cells == columns, line


@needs_both
@pytest.mark.parametrize("link", ["dangling", "looping", "to a figure of ours"])
def test_any_link_at_the_derived_figure_path_is_refused_alike(tmp_path, link):
    report, png = tmp_path / "r.md", tmp_path / "r.layers.png"
    if link == "dangling":
        png.symlink_to(tmp_path / "nowhere.png")
    elif link == "looping":
        png.symlink_to(png)
    else:
        ours = tmp_path / "ours.png"
        assert run_main("check", *TINY, "--layers-png", ours)[0] == 0
        png.symlink_to(ours)
    before = sorted(p.name for p in tmp_path.iterdir())
    line = _one_error(*run_main("check", *TINY, "--markdown", report))
    assert "r.layers.png exists and this tool did not draw it (a symbolic link)" in line, line
    assert png.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == before


# --------------------------------------------------------------------------- the layer table when only a probe fails
@needs_both
def test_the_layer_table_says_the_plain_inputs_agree_when_only_a_probe_fails():
    """A clip at 6 inside a block's forward (bug_corpus): every row of the table, measured on the plain inputs,
    agrees; the table says so and names the failing probe, instead of reading as a pass."""
    from modern_cnns.parity import check_pair
    from modern_cnns.parity.verdict import layers
    from parity_tests import bug_corpus

    pair = bug_corpus.PAIRS["fused"]
    bug = next(b for b in bug_corpus.BUGS if b.name == "functional clamp(0, 6) for ReLU")
    results = check_pair(*bug_corpus.build_pair(pair, bug), pair.input_shape, dtypes=("float64",))
    assert not results[0].passed
    said = "the plain inputs agree layer by layer (the table below); the failure is the probe's: predict output " \
           "(input x10) (float64; first divergence: layer"
    console = layers.console_lines(results)
    assert console[1].strip().startswith(said), console[:2]
    assert said[1:] in "\n".join(layers.markdown_lines(results))
    correct = check_pair(*bug_corpus.build_pair(pair), pair.input_shape, dtypes=("float64",))
    assert correct[0].passed and "the failure is the probe's" not in "\n".join(layers.console_lines(correct))


# --------------------------------------------------------------------------- what the reports record
@needs_both
def test_the_reports_record_the_files_seed_and_accepted_differences_checked(tmp_path):
    import hashlib
    import json

    from parity_tests import port_builders

    inputs = _save(tmp_path / "x.npy", np.random.default_rng(4).normal(size=(2, *port_builders.INPUT)))
    params = tmp_path / "w.params"
    port_builders.tiny_gluon().save_parameters(str(params))
    report, data = tmp_path / "r.md", tmp_path / "r.json"
    code, out, err = run_main("check", *TINY, "--inputs", inputs, "--gluon-params", params, "--seed", "7",
                              "--accept", "batchnorm-eps", "--markdown", report, "--json", data)
    assert code == 0, out + err
    digest = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (inputs, params)}
    checked = json.loads(data.read_text())["checked"]
    assert checked == {"seed": 7, "inputs": {"path": str(inputs), "sha256": digest[inputs]},
                       "gluon params": {"path": str(params), "sha256": digest[params]},
                       "accepted": ["batchnorm-eps"]}, checked
    text = report.read_text()
    for line in ("- seed: 7", f"- inputs: `{inputs}` (sha256 {digest[inputs]})",
                 f"- Gluon weights: `{params}` (sha256 {digest[params]})", "- accepted differences: batchnorm-eps"):
        assert line in text, text
    code, out, err = run_main("check", *TINY, "--json", data)  # the seeded draws
    assert code == 0 and json.loads(data.read_text())["checked"] == {"seed": 0, "inputs": None, "gluon params": None,
                                                                     "accepted": []}


# --------------------------------------------------------------------------- a batch of one through a BatchNorm
def _dense_norm_dense(norm):
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=64), norm, nn.Dense(3, in_units=4))
    net.initialize()
    return net


def subclassed_batchnorm_gluon():
    """A user's ``class Norm(nn.BatchNorm)``: a BatchNorm under another name."""
    from mxnet.gluon import nn

    return _dense_norm_dense(type("Norm", (nn.BatchNorm,), {})(in_channels=4))


def functional_batchnorm_gluon():
    """A block named for nothing that calls ``F.BatchNorm`` in its forward: no layer says BatchNorm."""
    from mxnet.gluon import nn

    class Norm(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.gamma = self.params.get("gamma", shape=(4,), init="ones")
                self.beta = self.params.get("beta", shape=(4,), init="zeros")
                self.running_mean = self.params.get("running_mean", shape=(4,), init="zeros", grad_req="null")
                self.running_var = self.params.get("running_var", shape=(4,), init="ones", grad_req="null")

        def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):
            return F.BatchNorm(x, gamma, beta, running_mean, running_var, eps=1e-5, momentum=0.9, fix_gamma=False)

    return _dense_norm_dense(Norm())


def functional_batchnorm_torch():
    """The port of both: ``F.batch_norm`` in the forward of a module of the same name."""
    import torch
    from torch import nn

    from modern_cnns.torch_impl.gluon_layers import Dense

    class Norm(nn.Module):
        def __init__(self):
            super().__init__()
            self.gamma, self.beta = nn.Parameter(torch.ones(4)), nn.Parameter(torch.zeros(4))
            self.register_buffer("running_mean", torch.zeros(4))
            self.register_buffer("running_var", torch.ones(4))

        def forward(self, x):
            return nn.functional.batch_norm(x, self.running_mean, self.running_var, self.gamma, self.beta,
                                            self.training, 0.1, 1e-5)

    return nn.Sequential(Dense(4, in_units=64), Norm(), Dense(3, in_units=4))


@needs_both
@pytest.mark.parametrize("gluon, says", [
    ("subclassed_batchnorm_gluon", "batch size 1: the model has BatchNorm"),
    ("functional_batchnorm_gluon", "batch size 1: the port normalises over the batch in training mode")])
def test_one_example_through_a_batchnorm_is_one_error_line_and_exit_2(tmp_path, gluon, says):
    """torch's "Expected more than 1 value per channel when training" ended the check as a FAIL (exit 1)."""
    me = "parity_tests.test_hostile_check_inputs"
    inputs = _save(tmp_path / "x.npy", np.random.default_rng(0).uniform(size=(1, 1, 8, 8)))
    line = _one_error(*run_main("check", "--gluon", f"{me}:{gluon}", "--torch", f"{me}:functional_batchnorm_torch",
                                "--inputs", inputs, "--dtype", "float64", "--steps", "1", "--positional"))
    assert says in line, line


@needs_both
@pytest.mark.parametrize("option", ["--json", "--markdown"])
def test_a_report_path_that_names_a_users_file_is_refused_and_a_report_of_ours_is_replaced(tmp_path, option):
    """``--markdown mypairs.py`` replaced the user's module with the report, before."""
    mine = tmp_path / "mypairs.py"
    mine.write_text("def build():\n    return None\n")
    code, _, err = run_main("check", *TINY, option, mine)
    assert code == 2 and "is not a report of this tool" in err and err.count("\n") == 1, err
    assert mine.read_text() == "def build():\n    return None\n"
    report = tmp_path / "r.out"
    assert run_main("check", *TINY, option, report)[0] == 0
    first = report.read_text()
    assert run_main("check", *TINY, "--seed", "1", option, report)[0] == 0  # our own report: replaced
    assert report.read_text() != first


@needs_both
@pytest.mark.parametrize("options, words", [
    (("--positional", "--zero-frozen", "nonexistent"), "the torch model has no such tensor"),
    (("--map", "auto", "--zero-frozen", "3.bias"), "which the map gives a source"),
])
def test_a_zero_frozen_mistake_is_a_usage_error_not_a_parity_fail(options, words):
    """A --zero-frozen name the port lacks, or one the pairing already copies, was a FAIL (exit 1)."""
    code, _, err = run_main("check", *TINY, *options)
    assert code == 2 and words in err and err.count("\n") == 1, err


@needs_both
def test_a_float64_weight_beyond_float32s_range_is_not_called_nan_or_infinity(tmp_path):
    """1e39 in a float64 .params file is finite; loaded into the float32 block it becomes infinite.  The refusal
    said "not finite (NaN or infinity)" of the file's value, before."""
    from parity_tests import port_builders

    net, path = port_builders.tiny_gluon(), tmp_path / "w.params"
    net.cast("float64")
    net[0].weight.data()[0, 0, 1, 1] = 1e39
    net.save_parameters(str(path))
    line = _one_error(*run_main("check", *PAIR, "--input", "1,8,8", "--gluon-params", path, "--dtype", "float64",
                                "--steps", "1"))
    assert "beyond float32's range" in line, line
