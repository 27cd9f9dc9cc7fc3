"""The PyTorch port of the course's networks, mirrored file by file on ``gluon_impl``.

Same file names, class names, builder names and child names as the Gluon tree,
so that weights move by name and a reader can diff the two.  PyTorch cannot
defer shapes, so torch constructors also take the input size (``in_channels`` /
``in_units``); networks are built for the course's input size.  This package
imports PyTorch only, never MXNet.
"""
