"""Bridges to PyTorch (``glassnet.interop.torch``) and scikit-learn (``glassnet.interop.sklearn``).

Both are optional: import the submodule you need; the core never imports them.
"""
