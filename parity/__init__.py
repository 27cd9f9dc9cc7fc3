"""Cross-framework tools: the registry, weight transfer, comparisons and the command line.

The only package that imports both MXNet and PyTorch (each lazily, so that it
also loads where only one of them is installed).
"""
