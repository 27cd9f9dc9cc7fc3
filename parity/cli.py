"""``python -m parity``: doctor, list, summary, convert, check, reproduce, zoo, lockstep."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modern_cnns.parity.catalog import registry
from modern_cnns.parity.frameworks import FRAMEWORKS, available, missing_reason
from modern_cnns.parity.verdict.contract import MAX_STEPS

#: exit codes of every command
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SKIPPED = 0, 1, 2, 3
#: Ctrl-C: 128 + SIGINT, what a shell reports for a process SIGINT ended
EXIT_INTERRUPTED = 130


# --------------------------------------------------------------------------- option types
# argparse turns a ValueError/ArgumentTypeError from these into "error: argument --x: ..." and
# exit code 2, before any work starts.
def _int_at_least(low, wording, name):
    """An argparse type: an integer >= ``low``; ``name`` is what argparse calls it on a non-integer."""
    def parse(text):
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {wording}, got {text}")
        return value
    parse.__name__ = name
    return parse


positive_int = _int_at_least(1, "a positive integer", "positive_int")
non_negative_int = _int_at_least(0, ">= 0", "non_negative_int")
#: more steps than a parity check needs (10 already shows float32 drift; lockstep trains longer)
MAX_CHECK_STEPS = MAX_STEPS


def steps_count(text):
    """SGD steps for check: the batches are drawn up front, so a bound keeps a typo from hanging."""
    value = positive_int(text)
    if value > MAX_CHECK_STEPS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_CHECK_STEPS} (the batches are drawn up front), "
                                          f"got {text}")
    return value


#: far more epochs than any course run (5 to 10): a typo such as 10000000000 would train for ever
MAX_EPOCHS = 10_000


def epochs_count(text):
    """Epochs for reproduce, bounded like ``--steps``: a slip of the keyboard must not train for days."""
    value = positive_int(text)
    if value > MAX_EPOCHS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_EPOCHS}, got {text}")
    return value


def positive_float(text):
    """An argparse type: a finite number > 0."""
    import math

    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


#: ``reproduce --seed``: every generator a run seeds takes it (numpy's legacy seed stops at 2**32 - 1)
seed_value = _int_at_least(0, ">= 0", "seed_value")


def run_seed(text):
    """A seed for ``reproduce``: checked here, before the run folder is taken."""
    from modern_cnns.parity.runs.spec import MAX_SEED

    value = seed_value(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SEED}, got {text}")
    return value


def writable_file(text):
    """A file path that can be written now: its folder exists and is writable, or can be created
    (``reports/parity.json`` on a fresh clone), so a sweep never fails at the end.  A link is
    written through; names are measured against the filesystem's limit.  ``-`` is refused: it reads
    as "standard output", which no report is written to, and would leave a file named ``-``."""
    from modern_cnns.parity.paths import OutputPathError, check_output_file

    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: give a file name")
    if text == "-":
        raise argparse.ArgumentTypeError("'-' is no file here (reports are not written to standard output); give "
                                         "a file name (./- for a file named '-')")
    try:
        check_output_file(text)
    except OutputPathError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def writable_dir(text):
    """A folder that exists and is writable, or whose nearest existing parent is."""
    from modern_cnns.parity.paths import OutputPathError, check_output_dir

    if not text.strip():  # "" would be the current folder, silently
        raise argparse.ArgumentTypeError("an empty path: give a folder")
    try:
        check_output_dir(text)
    except OutputPathError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _cmd_doctor(args):
    from modern_cnns.parity import doctor

    return doctor.run(root=args.data_dir)


def _param_count(entry, framework):
    from modern_cnns.parity.weights import init

    if not available(framework):
        return "n/a"
    if framework == "gluon":
        block = init.initialize_gluon(entry.build_gluon(), entry.batch_shape())
        return f"{init.gluon_param_count(block):,}"
    return f"{init.torch_param_count(entry.build_torch()):,}"


def _cmd_list(args):
    rows = [("name", "input", "gluon params", "torch params", "from the course: what it is")]
    for entry in registry.ENTRIES:
        shape = "x".join(map(str, entry.input_shape))
        rows.append((entry.name, shape, _param_count(entry, "gluon"), _param_count(entry, "torch"),
                     f"{entry.source.cite()}: {entry.notes}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    for framework in FRAMEWORKS:
        if not available(framework):
            print(f"({framework}: {missing_reason(framework)})")
    return 0


def _cmd_summary(args):
    from modern_cnns.parity.catalog.summary import SUMMARIES
    from modern_cnns.parity.verdict.contract import check_indexable

    entry = registry.get(args.name)
    check_indexable(args.batch_size, tuple(entry.input_shape))
    frameworks = FRAMEWORKS if args.framework == "both" else (args.framework,)
    status = 0
    for framework in frameworks:
        if not available(framework):
            print(f"{framework}: {missing_reason(framework)}", file=sys.stderr)
            status = 1
            continue
        if len(frameworks) > 1:
            print(f"# {framework}")
        for line in SUMMARIES[framework](entry, batch_size=args.batch_size):
            print(line)
    return status


def _require_pair(args) -> None:
    """A pair of the user's needs both builders and one sample's shape: said before any other option's fault."""
    from modern_cnns.parity.verdict.ports import PortError

    if not (args.gluon and args.torch):
        raise PortError("give both --gluon MODULE:CALLABLE and --torch MODULE:CALLABLE")
    if not args.input and not getattr(args, "inputs", None):  # --inputs FILE.npy gives the shape too
        raise PortError("--gluon/--torch need --input C,H,W (one sample's shape)")


def _user_models(args, by_name: bool = False):
    """(gluon block, torch module) from ``--gluon/--torch MODULE:CALLABLE``, each built by calling it;
    ``by_name``: tensors will pair by name, so a pair whose names differ is refused before torch's build."""
    _require_pair(args)
    from modern_cnns.parity.verdict.builders import build

    block = build(args.gluon, "gluon", "--gluon")
    if by_name:  # refused, if at all, before torch's weights are made (a VGG's 133 million take seconds)
        _refuse_names_on_meta(args, block)
    module = build(args.torch, "torch", "--torch")
    if getattr(args, "gluon_batchnorm", False):
        from modern_cnns.torch_impl.gluon_layers import use_gluon_batchnorm

        module = use_gluon_batchnorm(module)
    return block, module


def _refuse_names_on_meta(args, block) -> None:
    """Build the torch model on torch's ``meta`` device (shapes, no memory, no initialisation) and refuse the
    pair there if its tensor names differ from the Gluon block's.  A builder that cannot build there (it
    loads a file, it moves tensors between devices) is simply built for real afterwards: the same refusal
    is then made by ``check_pair``."""
    import torch

    from modern_cnns.parity.verdict.memory import reraise_if_memory
    from modern_cnns.parity.verdict.ports import PortError, _name_mismatch, load_callable

    try:
        with torch.device("meta"):
            module = load_callable(args.torch)()
    except PortError:
        raise
    except Exception as err:
        reraise_if_memory(err)
        return
    refusal = isinstance(module, torch.nn.Module) and _name_mismatch(block, module, None, args.zero_frozen or ())
    if refusal:
        raise PortError(refusal)


def _cmd_suggest_map(args):
    import json

    from modern_cnns.parity.verdict.ports import suggest_map

    block, module = _user_models(args)
    proposal = suggest_map(block, module, args.input)
    print(json.dumps(proposal, indent=1))
    flagged = len(proposal["ambiguous"]) + len(proposal["unpaired_gluon"]) + len(proposal["unpaired_torch"])
    print(f"{len(proposal['map'])} pairs proposed; {len(proposal['ambiguous'])} ambiguous, "
          f"{len(proposal['unpaired_gluon'])} gluon and {len(proposal['unpaired_torch'])} torch tensors unpaired"
          + ("; review them before use" if flagged else "") + _reordered(proposal), file=sys.stderr)
    return EXIT_OK


def _cmd_convert(args):
    from modern_cnns.parity.weights.checkpoint import CheckpointError, ConvertUsageError, convert
    from modern_cnns.parity.weights.transfer import TransferError

    if args.model and (args.gluon or args.torch):
        print("error: give --model NAME, or --gluon and --torch, not both", file=sys.stderr)
        return EXIT_USAGE
    if args.model:
        entry = registry.get(args.model)
        build = (entry.build_gluon, entry.build_torch, entry.batch_shape(1))
    elif args.gluon or args.torch:
        block, module = _user_models(args)
        build = (lambda: block, lambda: module, (1, *args.input))
    else:
        print("error: give --model NAME (a registry network), or --gluon, --torch and --input", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = convert(build, args.src, args.dst, name_map=args.map)
    except (CheckpointError, TransferError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, ConvertUsageError) else EXIT_FAILED
    print(f"{args.src} -> {args.dst}: {len(report.mapped)} tensors ({report.direction})")
    for note in report.notes:
        print(f"note: {note}")
    return EXIT_OK


def _cmd_check(args):
    import os
    import subprocess
    import time

    for name in args.names:  # a typo is a usage error wherever it runs, even without both frameworks
        registry.get(name)
    _refuse_ignored_options(args)
    _read_supplied(args)
    if args.no_onednn and os.environ.get("MXNET_MKLDNN_ENABLED") != "0":
        # MXNet reads the switch once per process: run the check in a fresh one.
        # The same arguments main() parsed (not sys.argv: main may be called with its own).
        argv = [a for a in args.argv if a != "--no-onednn"]
        # (and silence the per-operator "storage type fallback" notice it then prints)
        env = {**os.environ, "MXNET_MKLDNN_ENABLED": "0", "MXNET_STORAGE_FALLBACK_LOG_VERBOSE": "0"}
        return subprocess.run([sys.executable, "-m", "modern_cnns", *argv], env=env).returncode
    for framework in FRAMEWORKS:
        if not available(framework):
            print(f"error: check needs both frameworks; {missing_reason(framework)}", file=sys.stderr)
            return 2
    from modern_cnns.parity.frameworks import device_label, device_skip_reason
    from modern_cnns.parity.verdict import report

    args.layers_png_path = _layers_png(args)  # a file there that is not ours: refused before any work
    _refuse_clashing_paths(args)
    skip = device_skip_reason(args.device)
    if skip:  # a report that says so, never an old file that looks fresh
        print(f"skipped: {args.device}: {skip}")
        from modern_cnns.parity.weights.checkpoint import atomic_write

        for path, render in ((args.markdown, lambda: f"{report.MARKDOWN_TITLE}\n\nskipped: {args.device}: {skip}\n"),
                             (args.json, lambda: report.to_json([], None, skipped=f"{args.device}: {skip}"))):
            if path:
                text = render()
                atomic_write(path, lambda tmp: Path(tmp).write_text(text))
        return EXIT_SKIPPED
    from modern_cnns.parity.verdict.policy import float64_only_reason

    if args.gluon or args.torch:
        return _check_user_pair(args, report)
    if args.accept:
        print("error: --accept applies to a pair of yours (--gluon/--torch); the registry's known differences "
              "are its own (parity/verdict/policy.py)", file=sys.stderr)
        return EXIT_USAGE
    entries = [registry.get(name) for name in args.names] or registry.ENTRIES
    if args.jobs is None:
        from modern_cnns.parity.verdict.sweep import default_jobs

        args.jobs = default_jobs()
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    from modern_cnns.parity.verdict.contract import check_network_arguments
    from modern_cnns.parity.verdict.supplied import check_supplied

    for entry in entries:  # every refusal before the first network starts
        check_network_arguments(entry, device=args.device, dtypes=dtypes, steps=args.steps,
                                batch_size=args.batch_size, seed=args.seed)
        check_supplied(entry, args.inputs, args.gluon_params, args.batch_size, args.device)
    context = device_label(args.device)
    if float64_only_reason(context) and "float32" in dtypes:
        print(f"note: {context}: float64 only; {float64_only_reason(context)}")
        dtypes = ("float64",)
    from modern_cnns.parity.frameworks import CPU_EMULATION_VARS, cpu_numerics

    # cpu_numerics() imports torch (~2 s, before any worker starts): only when there is a cap to show
    if any(os.environ.get(var) for var in CPU_EMULATION_VARS):
        print("note: CPU code paths capped: " + ", ".join(f"{k}={v}" for k, v in cpu_numerics().items()))
    from modern_cnns.parity.verdict.sweep import run_sweep

    start = time.perf_counter()

    def show(network_results):
        for result in network_results:
            result.device = context
            print("\n".join(report.console_lines(result)), flush=True)
        _show_layers(args, network_results)

    results = run_sweep([entry.name for entry in entries], args.jobs, show, device=args.device, dtypes=dtypes,
                        steps=args.steps, batch_size=args.batch_size, seed=args.seed, inputs=args.inputs,
                        gluon_params=args.gluon_params)
    return _finish_check(args, report, results, time.perf_counter() - start, "network checks")


#: ``check`` options that only a pair of the user's (``--gluon/--torch``) reads (``--accept`` is refused on its own)
_PAIR_ONLY = ("input", "gluon_batchnorm", "map", "save_map", "positional", "input_sizes", "zero_frozen")


def _refuse_ignored_options(args) -> None:
    """An option that would be silently ignored is a usage error: the user believes it took effect.  A pair's
    missing half or shape is said first: fixing another option first would only lead to it."""
    from modern_cnns.parity.verdict.ports import PortError

    if args.gluon or args.torch:
        _require_pair(args)
    else:
        given = [f"--{name.replace('_', '-')}" for name in _PAIR_ONLY if getattr(args, name)]
        if given:
            raise PortError(f"{given[0]} applies to a pair of yours (--gluon/--torch); a registry network is built "
                            "and paired by the registry")
    if args.save_map and args.map != "auto":
        raise PortError("--save-map saves the map that --map auto proposes; without --map auto there is none to "
                        "save: add --map auto, or leave --save-map out")
    if args.map and args.positional:
        raise PortError("--map with --positional: --positional pairs tensors in registration order and would ignore "
                        "the map; give one of them")
    if (args.gluon or args.torch) and args.jobs is not None:
        raise PortError("--jobs sets how many registry networks are checked side by side; a pair of yours is checked "
                        "in this process: leave --jobs out")
    if (args.gluon or args.torch) and args.accept:  # a typo is refused before the builders run (minutes, maybe)
        from modern_cnns.parity.verdict import known

        if any(not name.strip() for name in args.accept):
            raise PortError(f"--accept: an empty name; valid: {', '.join(known.valid_names())}")
        try:
            known.check_names(args.accept)
        except ValueError as err:
            raise PortError(str(err)) from None


def _refuse_clashing_paths(args) -> None:
    """Before any work: no file ``check`` writes may be a file it reads or another file it writes (a map
    saved over the ``--gluon-params`` it then loads, a figure over the ``--inputs``, two reports on one
    path: each loses data), and ``--save-map`` never replaces a file (a map carries no mark of ours)."""
    import os

    from modern_cnns.parity.paths import OutputPathError

    outputs = {"--markdown": args.markdown, "--json": args.json, "--layers-png": args.layers_png_path,
               "--save-map": args.save_map}
    reads = {"--inputs": args.inputs_path, "--gluon-params": args.gluon_params,
             "--map": args.map if args.map not in (None, "auto") and not callable(args.map) else None}
    seen: dict = {}
    for option, path in [*reads.items(), *outputs.items()]:
        if not path:
            continue
        real = os.path.realpath(os.path.expanduser(str(path)))
        if real in seen:
            raise OutputPathError(f"{option} {path} is the file {seen[real]} names too: {option} would write over it; "
                                  "give each its own file")
        seen[real] = option
    if args.save_map and os.path.lexists(args.save_map):
        raise OutputPathError(f"--save-map {args.save_map} exists: the map is never written over a file; move it "
                              "away, or name a new file")
    from modern_cnns.parity.verdict import report

    for option, path, ours in (("--json", args.json, report.is_json_report),
                               ("--markdown", args.markdown, report.is_markdown_report)):
        if path and os.path.lexists(path) and not ours(path):
            raise OutputPathError(f"{option} {path} exists and is not a report of this tool's: it is never replaced; "
                                  "move it away, or name a new file")


def _read_supplied(args) -> None:
    """``--inputs FILE.npy`` read into ``args.inputs`` (its sample shape is ``--input`` for a pair of yours when
    that is not given); ``--gluon-params`` for one network or pair only; both refused before any model is built."""
    from modern_cnns.parity.verdict.supplied import SuppliedError, check_params_file, load_inputs

    if args.gluon_params is not None:
        if not (args.gluon or args.torch) and len(args.names) != 1:
            raise SuppliedError("--gluon-params holds one model's weights: name one network (or give --gluon/--torch)")
        check_params_file(args.gluon_params)
    # the files as read, for the reports (_what_was_checked)
    args.gluon_params_file = None if args.gluon_params is None else _file_record(args.gluon_params)
    args.inputs_file = None
    args.inputs_path = args.inputs  # the file, for _refuse_clashing_paths; args.inputs becomes its array
    if args.inputs is None:
        return
    shapes = {tuple(registry.get(name).input_shape) for name in args.names}
    sample_shape = args.input if args.gluon or args.torch else (shapes.pop() if len(shapes) == 1 else None)
    args.inputs = load_inputs(args.inputs, sample_shape)  # the shape from the file's header, before its data
    args.inputs_file = _file_record(args.inputs_path)
    if args.batch_size is not None and args.batch_size != len(args.inputs):
        raise SuppliedError(f"--batch-size {args.batch_size} with --inputs of {len(args.inputs)} samples: the inputs "
                            "are the batch; leave --batch-size out")
    if (args.gluon or args.torch) and args.input is None and args.inputs.ndim >= 2:
        args.input = tuple(int(d) for d in args.inputs.shape[1:])


def _what_was_checked(args) -> dict:
    """The reports' record of what the check ran on: the seed, the user's files (path and sha256, as read before
    the check: a file changed since reads as another), the differences accepted with ``--accept``."""
    return {"seed": args.seed, "inputs": args.inputs_file, "gluon params": args.gluon_params_file,
            "accepted": list(args.accept)}


def _file_record(path) -> dict:
    """``{"path", "sha256"}`` of the file at ``path``, read in blocks (a trained VGG's weights are ~500 MB)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "sha256": digest.hexdigest()}


def _finish_check(args, report, results, wall, noun) -> int:
    """The summary line, the ``--markdown``/``--json`` reports, the exit code: the same for every check."""
    from modern_cnns.parity.weights.checkpoint import atomic_write

    failed = [r for r in results if not r.passed]
    print(f"{len(results) - len(failed)}/{len(results)} {noun} passed; wall time {wall:.1f} s")
    checked = _what_was_checked(args)
    for path, render in ((args.markdown, report.markdown), (args.json, report.to_json)):
        if path:
            text = render(results, wall, checked=checked)
            atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    _write_layers_png(args, results)
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------- the per-layer report
def _layers_png(args):
    """Where ``check`` draws the per-layer figure (:func:`parity.verdict.layers.png_path`), or None."""
    from modern_cnns.parity.verdict.layers import NoFigureHere, png_path

    try:
        return png_path(args.markdown, args.json, args.layers_png)
    except NoFigureHere as err:
        print(f"note: no per-layer figure beside the report: {err}; name one with --layers-png FILE", file=sys.stderr)
        return None


def _show_layers(args, results) -> None:
    """``check --layers``: every row of each network's per-layer table, after its verdicts."""
    if args.layers:
        from modern_cnns.parity.verdict.layers import console_lines

        print("\n".join(console_lines(results)), flush=True)


def _write_layers_png(args, results) -> None:
    """The per-layer figure, written as the reports are: silently (without --layers nothing new is printed)."""
    path = getattr(args, "layers_png_path", None)
    if path:
        from modern_cnns.parity.verdict.layers import write_png

        write_png(results, path)


def _check_user_pair(args, report):
    """``check --gluon ... --torch ...``: one pair of the user's, the same reports and exit codes."""
    import time

    from modern_cnns.parity.frameworks import device_label
    from modern_cnns.parity.verdict.ports import PortError, check_pair

    if args.names:
        raise PortError("give registry NAMEs or --gluon/--torch, not both")
    block, module = _user_models(args, by_name=args.map is None and not args.positional)
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    name_map = _auto_map(args, block, module) if args.map == "auto" else args.map
    start = time.perf_counter()
    results = check_pair(block, module, args.input, name_map=name_map, positional=args.positional, dtypes=dtypes,
                         steps=args.steps, batch_size=args.batch_size or 2, seed=args.seed,
                         input_sizes=args.input_sizes, device=args.device, name=f"{args.gluon} -> {args.torch}",
                         zero_frozen=args.zero_frozen or (), accept=tuple(args.accept), inputs=args.inputs,
                         gluon_params=args.gluon_params)
    wall = time.perf_counter() - start
    for result in results:
        result.device = device_label(args.device)
        print("\n".join(report.console_lines(result)), flush=True)
    _show_layers(args, results)
    return _finish_check(args, report, results, wall, "checks")


def _reordered(proposal) -> str:
    """Say when the order the layers run in, not the order they were registered in, decided a pairing."""
    moved = proposal["reordered"]
    return (f"; {len(moved)} paired by the order their layers run, not the order they were registered in "
            f"(first {moved[0]})") if moved else ""


def _auto_map(args, block, module) -> dict:
    """``--map auto``: suggest-map's proposal, used when it is unambiguous (its size printed; saved with --save-map)."""
    import json

    from modern_cnns.parity.verdict.ports import PortError, suggest_map

    proposal = suggest_map(block, module, args.input)
    doubts = {k: proposal[k] for k in ("ambiguous", "unpaired_gluon", "unpaired_torch") if proposal[k]}
    if doubts:
        raise PortError("--map auto: suggest-map's proposal is not unambiguous (" + ", ".join(
            f"{len(v)} {k.replace('_', ' ')}, first {v[0]}" for k, v in doubts.items()) + "); run suggest-map, "
            "review its map and pass it with --map FILE.json")
    print(f"map used (--map auto, from suggest-map): {len(proposal['map'])} pairs"
          + (f", saved to {args.save_map}" if args.save_map else "") + _reordered(proposal))
    if args.save_map:
        from modern_cnns.parity.weights.checkpoint import atomic_write

        text = json.dumps(proposal["map"], indent=1)
        atomic_write(args.save_map, lambda tmp: Path(tmp).write_text(text))
    return proposal["map"]


def _cmd_reproduce(args):
    from modern_cnns.parity.catalog import experiments

    if args.render:
        from modern_cnns.parity.runs.outputs import render

        render(args.render)
        return EXIT_OK
    if args.list or not args.experiment:
        for exp in experiments.EXPERIMENTS.values():
            print(f"{exp.name:22s} net {exp.network:22s} loop {exp.loop}  lr {exp.lr:<5g} epochs {exp.epochs:<3d} "
                  f"batch {exp.batch_size:<4d} input {exp.resize or 28:<4d} {exp.source.cite()}")
        return 0 if args.list else 2
    from modern_cnns.parity.verdict.contract import check_experiment_batch

    check_experiment_batch(experiments.get(args.experiment), args.batch_size)  # an unknown name: before any import
    if args.out is None:  # the default is checked as a given --out is (a read-only checkout, say)
        args.out = str(Path("runs") / args.experiment)
        try:
            writable_dir(args.out)
        except argparse.ArgumentTypeError as err:
            print(f"error: the default --out {args.out}: {err}; give --out a writable folder", file=sys.stderr)
            return EXIT_USAGE
    from modern_cnns.parity.runs.reproduce import reproduce

    reproduce(args.experiment, framework=args.framework, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
              device=args.device, out=args.out, resume=args.resume, limit_batches=args.limit_batches,
              seed=args.seed, concurrent=args.concurrent, overwrite=args.overwrite)
    return EXIT_OK


#: what each zoo source's models are built and run with (Ray only for a run, not for --list)
_ZOO_NEEDS = {"gluoncv2:pytorchcv": ("mxnet", "torch", "gluoncv2", "pytorchcv"),
              "gluoncv:torchvision": ("mxnet", "gluoncv", "torch", "torchvision")}


def _cmd_zoo(args):
    from modern_cnns.parity.frameworks import importable
    from modern_cnns.parity.zoo import command

    if args.min_input and args.max_input and args.min_input > args.max_input:
        print(f"error: --min-input {args.min_input} is above --max-input {args.max_input}: no pair can be selected",
              file=sys.stderr)
        return EXIT_USAGE
    missing = [m for m in (*_ZOO_NEEDS.get(args.source, ()), *(() if args.list else ("ray",))) if not importable(m)]
    if missing:  # a one-framework environment, say: it raised ModuleNotFoundError from inside the listing
        print(f"error: zoo {args.source} needs {', '.join(missing)}, not installed in this environment "
              "(the full stack: pip install -r requirements.txt)", file=sys.stderr)
        return EXIT_USAGE
    return command.run(args)


def _cmd_lockstep(args):
    from modern_cnns.parity.catalog import experiments
    from modern_cnns.parity.runs.lockstep import lockstep
    from modern_cnns.parity.verdict.contract import check_experiment_batch

    check_experiment_batch(experiments.get(args.experiment), args.batch_size)
    lockstep(args.experiment, dtype=args.dtype, steps=args.steps, every=args.every, batch_size=args.batch_size,
             lr=args.lr)
    return 0


def shape_arg(text: str) -> tuple:
    """``"3,224,224"`` -> ``(3, 224, 224)``: one sample's shape, positive integers."""
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, e.g. 3,224,224; "
                                         f"got {text!r}")
    return dims


def sizes_arg(text: str) -> tuple:
    """``"224,256"`` -> ``(224, 256)``."""
    return shape_arg(text)


def _pair_options(p, check: bool) -> None:
    """``--gluon/--torch MODULE:CALLABLE`` and what a pair of the user's needs."""
    p.add_argument("--gluon", metavar="MODULE:CALLABLE", help="builds your Gluon model (called with no arguments)")
    p.add_argument("--torch", metavar="MODULE:CALLABLE", help="builds your PyTorch port (called with no arguments)")
    p.add_argument("--input", type=shape_arg, metavar="C,H,W", help="one sample's input shape")
    p.add_argument("--gluon-batchnorm", action="store_true",
                   help="swap the port's stock torch BatchNorm for the Gluon-exact layer first")
    p.add_argument("--map", metavar="FILE.json", help="a gluon -> torch name map (suggest-map writes one)"
                   + ("; 'auto': suggest-map's map, used when it is unambiguous" if check else ""))
    if check:
        p.add_argument("--save-map", metavar="FILE.json", type=writable_file,
                       help="with --map auto: write the map used here")
        p.add_argument("--positional", action="store_true",
                       help="pair tensors in registration order instead of by name")
        p.add_argument("--input-sizes", type=sizes_arg, metavar="S1,S2",
                       help="also compare prediction outputs at these spatial sizes")
        p.add_argument("--zero-frozen", nargs="+", metavar="NAME",
                       help="torch parameters with no Gluon counterpart, set to zero and frozen")
        p.add_argument("--accept", nargs="+", metavar="NAME", default=[],
                       help="report these known differences as KNOWN DIFFERENCE instead of failing: a framework "
                            "kernel's rounding (mxnet-leakyrelu-float32, torch-hardsigmoid-backward-float32), a "
                            "convention (unbiased-running-var) or a structural difference (e.g. dropout-rate, "
                            "batchnorm-eps); see docs/PORTS.md")


def build_parser():
    """The ``python -m parity`` argument parser, every command and option."""
    parser = argparse.ArgumentParser(prog="python -m parity", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("doctor", help="check the environment and the Fashion-MNIST files")
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST folder (default: $FASHION_MNIST_DIR "
                                                     "or /usr/share/datasets/fashion-mnist)")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("list", help="every network with its parameter count in each framework")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("summary", help="output shape of each top-level layer, in the course's format")
    p.add_argument("name")
    p.add_argument("--framework", choices=FRAMEWORKS + ("both",), default="both")
    p.add_argument("--batch-size", type=positive_int, default=1)
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("convert", help="convert a checkpoint: Gluon .params <-> torch .pt (by extension)")
    p.add_argument("--model", help="registry name of the network the checkpoint belongs to")
    _pair_options(p, check=False)
    p.add_argument("src")
    p.add_argument("dst", type=writable_file)
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("suggest-map", help="propose a gluon -> torch name map for a pair of yours (JSON on stdout)")
    _pair_options(p, check=False)
    p.set_defaults(func=_cmd_suggest_map)

    p = sub.add_parser("check", help="compare every network's Gluon original and torch port")
    p.add_argument("names", nargs="*", metavar="NAME", help="registry names (default: all)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--no-onednn", action="store_true", help="run MXNet with oneDNN disabled (separate process)")
    p.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    p.add_argument("--steps", type=steps_count, default=2,
                   help=f"SGD steps before comparing all state (1 to {MAX_CHECK_STEPS})")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="default: the registry's per-network choice")
    p.add_argument("--seed", type=non_negative_int, default=0, help="draws the weights and the batches (default 0)")
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="registry networks checked side by side, in worker processes with cores/jobs threads "
                        "each (default: one per core, as far as available memory allows, ~10 GB each)")
    p.add_argument("--json", metavar="FILE", type=writable_file,
                   help="write the report here (a file already there is replaced only if it is such a report)")
    p.add_argument("--markdown", metavar="FILE", type=writable_file,
                   help="write the report here (a file already there is replaced only if it is such a report)")
    p.add_argument("--layers", action="store_true",
                   help="print every layer of both trees (execution order, shapes, pairing, the port's difference "
                        "per dtype beside the original's own float32 error); always in --json and --markdown")
    p.add_argument("--layers-png", metavar="FILE", type=writable_file,
                   help="draw the per-layer differences here (default: beside the --markdown or --json report, "
                        "REPORT.layers.png)")
    _pair_options(p, check=True)
    p.add_argument("--inputs", metavar="FILE.npy",
                   help="your inputs (numpy.save of an N,C,H,W array): the batch of every check, N the batch size; "
                        "labels are drawn from --seed")
    p.add_argument("--gluon-params", metavar="FILE.params",
                   help="the Gluon model's trained weights (its save_parameters file), moved to the port and checked "
                        "instead of the seeded Xavier weights")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("reproduce", help="re-run a course training experiment (--list shows them)")
    p.add_argument("experiment", nargs="?")
    p.add_argument("--list", action="store_true")
    p.add_argument("--render", metavar="DIR", type=Path,
                   help="redraw results.md and curves.png of the run in DIR from its log.json, and stop")
    p.add_argument("--framework", choices=("gluon", "torch", "both"), default="both")
    p.add_argument("--epochs", type=epochs_count)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=positive_float)
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--out", type=writable_dir, help="output folder (default runs/EXPERIMENT)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out (same settings) from its "
                   "last epoch checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out; the old one is kept until "
                   "the new run's first checkpoint is written")
    p.add_argument("--limit-batches", type=positive_int, help="only the first N batches of each epoch (quick runs)")
    p.add_argument("--seed", type=run_seed, default=0)
    p.add_argument("--serial", dest="concurrent", action="store_false", default=None,
                   help="with --framework both: one framework after the other, all cores each (default on 2+ "
                        "cores: both at once, in two processes, half the cores each)")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("zoo", help="check every pair two model zoos share, on Ray (resumable results store)")
    p.add_argument("source", choices=("gluoncv2:pytorchcv", "gluoncv:torchvision"))
    p.add_argument("--match", metavar="GLOB", help="only pairs whose name matches, e.g. 'resnet*_cifar10'")
    p.add_argument("--max-input", type=positive_int, metavar="N", help="only pairs whose input size is <= N")
    p.add_argument("--min-input", type=positive_int, metavar="N", help="only pairs whose input size is >= N")
    p.add_argument("--per-family", type=positive_int, metavar="N",
                   help="only N architectures of each family (the PyTorch model file that defines it): ImageNet "
                        "ones first, then the cheapest (parameters x pixels); --min-input 65 --per-family 1: "
                        "one ImageNet-size pair of every family")
    p.add_argument("--limit", type=positive_int, metavar="N", help="only the first N selected pairs (as listed)")
    p.add_argument("--list", action="store_true", help="list the selected pairs and stop")
    p.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--address", metavar="auto|HOST:PORT",
                   help="join a running Ray cluster (default: start Ray on this machine, one task per core)")
    p.add_argument("--cpus", type=positive_int, metavar="N",
                   help="CPUs Ray may use when it starts on this machine (default: every core; one task each)")
    p.add_argument("--store", type=writable_dir, default="reports/zoo",
                   help="results folder, one line per (pair, dtype, seed); a re-run resumes (default reports/zoo)")
    p.add_argument("--retry-crashed", action="store_true", help="re-run pairs recorded as crashed")
    p.add_argument("--markdown", metavar="FILE", type=writable_file, help="write the report (e.g. docs/ZOO.md)")
    p.set_defaults(func=_cmd_zoo)

    p = sub.add_parser("lockstep", help="train both frameworks from the same weights on the same batches")
    p.add_argument("experiment")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--steps", type=positive_int, default=200)
    p.add_argument("--every", type=positive_int, default=20, help="print the max parameter difference every N steps")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=positive_float)
    p.set_defaults(func=_cmd_lockstep)
    return parser


def _user_errors():
    """(exception types, exit code): failures caused by input, reported as one ``error:`` line.

    Anything else is a bug and keeps its traceback.
    """
    from modern_cnns.data import DatasetError
    from modern_cnns.parity.catalog.experiments import UnknownExperiment
    from modern_cnns.parity.paths import OutputPathError
    from modern_cnns.parity.runs.reproduce import TrainingProcessError
    from modern_cnns.parity.runs.runfolder import RunFileError, RunFolderError
    from modern_cnns.parity.verdict.contract import ContractError
    from modern_cnns.parity.verdict.ports import PortError
    from modern_cnns.parity.weights.checkpoint import CheckpointError
    from modern_cnns.parity.weights.state import StateError
    from modern_cnns.parity.weights.transfer import NameMapError, TransferError
    from modern_cnns.parity.zoo.engine import ClusterError

    return [((registry.UnknownNetwork, UnknownExperiment, RunFolderError, PortError, NameMapError, OutputPathError,
              ContractError, ClusterError), EXIT_USAGE),
            ((CheckpointError, TransferError, StateError, DatasetError, RunFileError, TrainingProcessError),
             EXIT_FAILED)]


class _ClosedStdoutIsNoError:
    """``sys.stdout`` for one command, whose reader may stop reading (``check --layers | head``).

    A closed pipe is not a failure of the command: the rest of what it prints goes to ``os.devnull``
    (Python docs, "Note on SIGPIPE": the descriptor too, so that the interpreter's last flush does not
    fail either), and the command finishes (its reports, its exit code: the verdict's)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self):
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        except (OSError, ValueError, AttributeError):  # a stream without a descriptor of its own
            pass
        finally:
            os.close(devnull)
        self._stream = open(os.devnull, "w")

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    """Run one command; ``argv`` defaults to ``sys.argv[1:]``.  Returns the exit code (``EXIT_*``)."""
    stdout = sys.stdout
    sys.stdout = _ClosedStdoutIsNoError(stdout)
    try:
        return _main(argv)
    finally:
        sys.stdout = stdout


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    from modern_cnns.parity.frameworks import environment_problems

    problems = environment_problems()  # before MXNet loads: after, an abort cannot be caught
    if problems:
        print("error: " + "; ".join(problems), file=sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt as err:  # Ctrl-C: one line (what to resume), the shell's code for SIGINT
        print(str(err) or "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        from modern_cnns.parity.verdict.memory import is_memory_error, summary

        if is_memory_error(err):
            print(f"error: not enough memory ({summary(err)}); use a smaller --batch-size, --steps, input or network",
                  file=sys.stderr)
            return EXIT_FAILED
        for types, code in _user_errors():
            if isinstance(err, types):
                print(f"error: {err}", file=sys.stderr)
                return code
        if isinstance(err, OSError):  # the system refused: a full disk, a read-only folder, a name too long
            from modern_cnns.parity.paths import os_error_line

            print(f"error: {os_error_line(err)}", file=sys.stderr)
            return EXIT_FAILED
        raise
