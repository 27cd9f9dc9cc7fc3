"""``python -m parity ARGV`` in the test's own process: cheap enough to run hundreds of times."""
import io
from contextlib import redirect_stderr, redirect_stdout


def run_main(*argv):
    """(exit code, stdout, stderr) of ``parity.cli.main(argv)``; argparse's own exits are caught."""
    from modern_cnns.parity.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:  # argparse refuses an option this way
            code = exit_.code
    return code, out.getvalue(), err.getvalue()
