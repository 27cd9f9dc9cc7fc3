"""modern_cnns: the d2l "Modern CNNs" course in MXNet Gluon, beside a verified PyTorch port.

The one name this project installs.  Beneath it:

* ``modern_cnns.gluon_impl``: the course's Gluon code (gluonbook, MXNet edition);
* ``modern_cnns.torch_impl``: the PyTorch port, mirrored file by file;
* ``modern_cnns.data``: Fashion-MNIST, one numpy pipeline for both;
* ``modern_cnns.parity``: the catalog, weight transfer, the parity checker and the course runs.

In the source tree those four are the top-level folders ``gluon_impl/``, ``torch_impl/``,
``data/`` and ``parity/``, where readers expect them.  An installed wheel maps them beneath
this package (``package_dir`` in ``pyproject.toml``).  In a checkout (run from the repository,
or installed editable) this package's ``__path__`` also lists the repository root, so that
``modern_cnns.parity`` *is* ``parity/``: one copy of every module, one name.
"""
from pathlib import Path as _Path

_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "parity" / "cli.py").is_file() and (_checkout / "pyproject.toml").is_file():
    __path__.append(str(_checkout))  # noqa: F821  (a package's __path__ is defined at import)
