"""Compiles the check's hot path with mypyc; everything else in pyproject.toml.

The modules listed are pure, fully typed code that every check runs through; compiled they
answer the same, faster. HOLDFIRE_PURE_PYTHON=1 installs them as plain Python instead (a machine
without a C compiler).
"""

import os

from setuptools import setup

COMPILED = [
    "src/holdfire/domain/checks.py",
    "src/holdfire/domain/identity.py",
    "src/holdfire/domain/measures.py",
    "src/holdfire/domain/tracks.py",
    "src/holdfire/engine/clearance.py",
    "src/holdfire/engine/picture.py",
    "src/holdfire/engine/spatial.py",
    "src/holdfire/geo/frame.py",
    "src/holdfire/geo/geodesy.py",
]

if os.environ.get("HOLDFIRE_PURE_PYTHON"):
    setup()
else:
    from mypyc.build import mypycify

    setup(ext_modules=mypycify(COMPILED, opt_level="3"))
