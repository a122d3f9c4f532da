"""Hypothesis keeps nothing in the checkout: no example database (every test sets ``database=None``), and
its cache of constants read from the source goes to a temporary folder instead of ``./.hypothesis``."""
import atexit
import os
import shutil
import tempfile

if "HYPOTHESIS_STORAGE_DIRECTORY" not in os.environ:
    _STORAGE = tempfile.mkdtemp(prefix="costsim-hypothesis-")
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = _STORAGE
    atexit.register(shutil.rmtree, _STORAGE, ignore_errors=True)
