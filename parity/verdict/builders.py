"""The command line's ``--gluon/--torch MODULE:CALLABLE``: each called, and what it returned checked.

A builder that returns ``None`` (a forgotten ``return``), a class instead of an instance, a
string, the other framework's model or a model without parameters used to end in a traceback
far from the cause; here it is a usage error naming what came back and what was expected.
"""
from __future__ import annotations

from modern_cnns.parity.verdict.contract import ContractError, check_model
from modern_cnns.parity.verdict.ports import PortError, load_callable


def build(spec: str, framework: str, flag: str):
    """Call the builder ``spec`` (``MODULE:CALLABLE``) of ``framework``; the model it returns, checked."""
    try:
        model = load_callable(spec)()
    except (PortError, KeyboardInterrupt):
        raise
    except BaseException as err:  # SystemExit too: a builder that exits must not end the check as a success
        from modern_cnns.parity.verdict.memory import reraise_if_memory

        reraise_if_memory(err)
        raise PortError(f"{flag} {spec}: calling it failed: {type(err).__name__}: {err}") from None
    try:
        check_model(model, framework, f"{flag} {spec}", verb="returned")
    except ContractError as err:
        raise PortError(str(err)) from None
    return model


def build_pair(gluon_spec: str, torch_spec: str):
    """(Gluon block, torch module) from the two builders."""
    return build(gluon_spec, "gluon", "--gluon"), build(torch_spec, "torch", "--torch")
