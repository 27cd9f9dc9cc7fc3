"""modern_cnns: the d2l "Modern CNNs" course in MXNet Gluon, beside a verified PyTorch port.

The one name this project installs.  Beneath it:

* ``modern_cnns.gluon_impl``: the course's Gluon code (gluonbook, MXNet edition);
* ``modern_cnns.torch_impl``: the PyTorch port, mirrored file by file;
* ``modern_cnns.data``: Fashion-MNIST, one numpy pipeline for both;
* ``modern_cnns.parity``: the catalog, weight transfer, the parity checker and the course runs.

In the source tree those four are the top-level folders ``gluon_impl/``, ``torch_impl/``,
``data/`` and ``parity/``, where readers expect them; this folder holds a relative symlink to
each.  So ``modern_cnns`` is a plain package tree, one file per module, that Python, setuptools
(wheel and editable install), mypy, pyright and editors all read the same way.
"""
