"""What a user may supply instead of the checker's draws: the inputs, and the Gluon model's trained weights.

``check --inputs FILE.npy`` (API ``inputs=array``): one array ``(N, *sample shape)`` of the model's
input, e.g. real images preprocessed as the model expects.  It is the batch of every check: the
prediction and training outputs, the gradients, each of the K SGD steps (labels are drawn from the
seed, uniform over the classes, one draw per step, as for the seeded batches), and the probes of
:mod:`parity.verdict.probes` (which scale it).  ``N`` is the batch size.

``check --gluon-params FILE.params`` (API ``gluon_params=path``): the Gluon model's own weights,
read with ``block.load_parameters`` (cast to the dtype checked) after the model is built, and moved
to the port as the seeded Xavier weights would be: a port that only breaks on trained weights
(statistics far from 0 and 1, activations beyond a clip) shows.  The course's scratch BatchNorm keeps
its moving statistics as plain attributes, which ``save_parameters`` never wrote: they keep their
initial values.

Either is checked before any work; a bad one is a :class:`SuppliedError` (``error:``, exit 2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from modern_cnns.parity.verdict.contract import ContractError


class SuppliedError(ContractError):
    """Inputs or weights that cannot be used as given; says what is wrong with them."""


#: more values than any check's batch holds (2**31: 16 GB as the float64 the check computes in); a file
#: claiming more is refused from its header, before numpy allocates it
MAX_INPUT_VALUES = 2**31
#: what a file starts with: numpy's .npy magic, a zip archive (.npz), a pickle (protocol 2 and later)
_NPY_MAGIC, _ZIP_MAGIC, _PICKLE_MAGIC = b"\x93NUMPY", b"PK\x03\x04", b"\x80"


def load_inputs(path, sample_shape=None) -> np.ndarray:
    """The array in the ``.npy`` file ``path`` (no pickles: a file holding objects is refused).

    Its header is read first: a shape other than ``(N, *sample_shape)`` (when given) or more than
    :data:`MAX_INPUT_VALUES` values is refused before the data is read (it would otherwise be allocated first)."""
    path = Path(path)
    if not path.is_file():
        raise SuppliedError(f"--inputs {path}: {'is a folder' if path.is_dir() else 'no such file'}; give a .npy "
                            "file written by numpy.save")
    shape = _npy_shape(path)
    if shape is not None and sample_shape is not None:
        refusal = _shape_refusal(shape, sample_shape, f"--inputs {path}")
        if refusal:
            raise SuppliedError(refusal)
    try:
        value = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise SuppliedError(f"--inputs {path}: not a numpy array file ({_first_line(err)}); give a .npy file "
                            "written by numpy.save") from None
    if not isinstance(value, np.ndarray):  # an .npz archive
        value.close()
        raise SuppliedError(f"--inputs {path}: an .npz archive of several arrays; give one array, written by "
                            "numpy.save")
    return value


def _npy_shape(path: Path):
    """The shape in the header of the ``.npy`` file ``path`` (None for an .npz archive, which :func:`load_inputs`
    refuses on loading), once it holds at most :data:`MAX_INPUT_VALUES` numbers; says what any other file is."""
    fix = "give a .npy file written by numpy.save"
    with open(path, "rb") as f:
        start = f.read(len(_NPY_MAGIC))
        if start.startswith(_ZIP_MAGIC):
            return None
        if not start.startswith(_NPY_MAGIC):  # numpy's own refusal calls every such file "pickled data"
            what = ("an empty file (0 bytes)" if not start else "a Python pickle, not a numpy array"
                    if start.startswith(_PICKLE_MAGIC) else "not a numpy array file (it does not start with "
                    "numpy's .npy header)")
            raise SuppliedError(f"--inputs {path}: {what}; {fix}")
        f.seek(0)
        try:
            version = np.lib.format.read_magic(f)
            read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in read:  # 3.0: only for field names beyond latin-1, i.e. a record array
                raise ValueError(f"format version {version[0]}.{version[1]}, a record array")
            shape, _, dtype = read[version](f)
        except ValueError as err:
            raise SuppliedError(f"--inputs {path}: not a numpy array file (its header: {_first_line(err)}); "
                                f"{fix}") from None
    if dtype.hasobject:
        raise SuppliedError(f"--inputs {path}: not a numpy array file of numbers: it holds Python objects "
                            f"(dtype {dtype}), which are pickles; {fix} from an array of numbers")
    count = int(np.prod(shape, dtype=object))
    if count > MAX_INPUT_VALUES:
        raise SuppliedError(f"--inputs {path}: {count:,} values (shape {tuple(shape)}), more than a check can hold "
                            f"({MAX_INPUT_VALUES:,}); give a batch of a few samples")
    return tuple(shape)


def _shape_refusal(shape, sample_shape, what) -> str | None:
    """Why an array of ``shape`` is not a batch ``(N, *sample_shape)``, or None."""
    if len(shape) != len(sample_shape) + 1 or tuple(shape[1:]) != tuple(sample_shape):
        return (f"{what} has shape {tuple(shape)}; the model takes (N, {', '.join(map(str, sample_shape))}): N "
                f"samples of {'x'.join(map(str, sample_shape))}")
    return None


def check_inputs(value, sample_shape, what="inputs") -> np.ndarray:
    """``value`` as float64, once it is a finite real array ``(N, *sample_shape)`` with N >= 1."""
    if not isinstance(value, np.ndarray):
        raise SuppliedError(f"{what} must be a numpy array (N, {', '.join(map(str, sample_shape))}); got a "
                            f"{type(value).__name__}")
    if value.dtype.kind not in "fiu":
        raise SuppliedError(f"{what} must hold real numbers (a float or integer dtype); got dtype {value.dtype}")
    refusal = _shape_refusal(value.shape, sample_shape, what)
    if refusal:
        raise SuppliedError(refusal)
    if value.shape[0] < 1:
        raise SuppliedError(f"{what} holds no sample (shape {value.shape}); give at least one")
    finite = np.isfinite(value)
    if not finite.all():
        bad = int(value.size - finite.sum())
        raise SuppliedError(f"{what} holds {bad} value{'s' if bad > 1 else ''} that {'are' if bad > 1 else 'is'} "
                            f"not finite (NaN or infinity), first at index {tuple(np.argwhere(~finite)[0])}")
    return value.astype(np.float64)


def check_params_file(path) -> str:
    """``path`` as a string, once it names a readable file (what it holds is checked by loading it)."""
    p = Path(path)
    if not p.is_file():
        raise SuppliedError(f"--gluon-params {path}: {'is a folder' if p.is_dir() else 'no such file'}; give a "
                            ".params file written by the Gluon model's save_parameters")
    return str(path)


def load_gluon_params(block, path, device: str = "cpu") -> None:
    """``block.load_parameters(path)``, cast to the block's dtype; any refusal a :class:`SuppliedError`.

    MXNet's own refusals are long (every name of the file) or C++ stacks: the first line is kept.
    """
    from modern_cnns.parity.frameworks import gluon_ctx
    from modern_cnns.parity.verdict.memory import reraise_if_memory

    check_params_file(path)
    try:
        block.load_parameters(str(path), ctx=gluon_ctx(device), cast_dtype=True, dtype_source="current")
        import mxnet as mx

        mx.nd.waitall()
    except Exception as err:
        reraise_if_memory(err)
        raise SuppliedError(f"--gluon-params {path}: the Gluon model cannot load it: "
                            f"{_unnamed_arrays(path) or _first_line(err)}") from None
    _refuse_non_finite_weights(block, path)


def _unnamed_arrays(path) -> str | None:
    """What a file of unnamed arrays is (``mx.nd.save(file, [arrays])``: MXNet's refusal reads "'list' object
    has no attribute 'keys'"), or None for any other file."""
    import mxnet as mx

    try:
        loaded = mx.nd.load(str(path))
    except Exception:  # not an MXNet file at all: MXNet's own refusal says so
        return None
    if isinstance(loaded, list):
        return (f"it holds a list of {len(loaded)} unnamed arrays (mx.nd.save of a list), not the named parameters "
                "that the block's save_parameters writes")
    return None


def _refuse_non_finite_weights(block, path) -> None:
    """A loaded weight that is NaN or infinite makes every output NaN: refused, not checked into a FAIL."""
    from modern_cnns.parity.weights.state import gluon_params

    for name, param in gluon_params(block).items():
        values = param.list_data()[0].asnumpy()
        finite = np.isfinite(values)
        if not finite.all():
            bad = int(values.size - finite.sum())
            raise SuppliedError(f"--gluon-params {path}: {name} holds {bad} value{'s' if bad > 1 else ''} that "
                                f"{'are' if bad > 1 else 'is'} not finite once loaded in the block's "
                                f"{values.dtype} (NaN or infinity, or a finite number beyond {values.dtype}'s "
                                f"range, {float(np.finfo(values.dtype).max):.3g}); give trained weights that are "
                                "numbers the block can hold")


def _first_line(err) -> str:
    """One line of an error: MXNet puts the cause on the last line of a C++ stack, Python on the first."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    text = next((line for line in reversed(lines) if "Error" in line), lines[0] if lines else type(err).__name__) \
        if len(lines) > 1 else (lines[0] if lines else type(err).__name__)
    return text if len(text) <= 300 else text[:297] + "..."


def check_supplied(entry, inputs, gluon_params, batch_size, device="cpu"):
    """For a registry ``entry``: the checked ``inputs`` (or None), once ``gluon_params`` (if given) loads
    into its Gluon original (built un-initialised to float32 and initialised once: seconds, before any check)."""
    if inputs is not None:
        inputs = check_inputs(inputs, tuple(entry.input_shape))
        if batch_size is not None and batch_size != len(inputs):
            raise SuppliedError(f"batch size {batch_size} with inputs of {len(inputs)} samples: the inputs are the "
                                "batch; leave the batch size out")
    if gluon_params is not None:
        from modern_cnns.parity.verdict.pair import build_gluon

        build_gluon(entry, "float32", device, 0, check_params_file(gluon_params))
    return inputs


def refuse_out_of_range(inputs, dtypes) -> None:
    """Refuse ``inputs`` that a checked dtype cannot hold (float64 values near 1e200 are infinities in float32):
    every output would be NaN, and NaN against NaN says nothing about the port."""
    largest = float(np.abs(np.asarray(inputs)).max(initial=0.0))
    for dtype in dtypes:
        limit = float(np.finfo(dtype).max)
        if largest > limit:
            raise SuppliedError(f"the inputs reach {largest:.3g}, beyond {dtype}'s largest value {limit:.3g}: they "
                                f"cannot be checked in {dtype}" + ("; check --dtype float64 only, or scale them"
                                                                    if dtype != "float64" else ""))


def refuse_non_finite_original(original: dict, dtype: str) -> None:
    """Refuse inputs on which the Gluon original's own results (``{check: array}``) are not finite: the check
    would compare NaN with NaN, and fail a correct port (probes that overflow are skipped before this)."""
    bad = next((check for check, value in original.items() if not np.isfinite(np.asarray(value)).all()), None)
    if bad is not None:
        raise SuppliedError(f"the original's output is not finite on these inputs ({dtype} {bad}): nothing can be "
                            "compared; give inputs at the scale the model expects"
                            + (", or check --dtype float64 only" if dtype != "float64" else ""))
