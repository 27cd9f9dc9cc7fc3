"""``python -m parity``: doctor, list, summary, convert."""
from __future__ import annotations

import argparse
import sys

from parity import registry
from parity.frameworks import FRAMEWORKS, available, missing_reason


def _cmd_doctor(args):
    from parity import doctor

    return doctor.run(root=args.data_dir)


def _param_count(entry, framework):
    from parity import frameworks

    if not available(framework):
        return "n/a"
    if framework == "gluon":
        block = frameworks.materialize_gluon(entry.build_gluon(), entry.batch_shape())
        return f"{frameworks.gluon_param_count(block):,}"
    return f"{frameworks.torch_param_count(entry.build_torch()):,}"


def _cmd_list(args):
    rows = [("name", "input", "gluon params", "torch params", "notes")]
    for entry in registry.ENTRIES:
        shape = "x".join(map(str, entry.input_shape))
        rows.append((entry.name, shape, _param_count(entry, "gluon"), _param_count(entry, "torch"), entry.notes))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    for framework in FRAMEWORKS:
        if not available(framework):
            print(f"({framework}: {missing_reason(framework)})")
    return 0


def _cmd_summary(args):
    from parity.summary import SUMMARIES

    entry = registry.get(args.name)
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


def _cmd_convert(args):
    from parity.checkpoint import CheckpointError, convert
    from parity.transfer import TransferError

    entry = registry.get(args.model)
    try:
        report = convert(entry, args.src, args.dst)
    except (CheckpointError, TransferError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.src} -> {args.dst}: {len(report.mapped)} tensors ({report.direction})")
    return 0


def build_parser():
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
    p.add_argument("--batch-size", type=int, default=1)
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("convert", help="convert a checkpoint: Gluon .params <-> torch .pt (by extension)")
    p.add_argument("--model", required=True, help="registry name of the network the checkpoint belongs to")
    p.add_argument("src")
    p.add_argument("dst")
    p.set_defaults(func=_cmd_convert)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except registry.UnknownNetwork as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
