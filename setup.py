"""The compiled parser of the CSV and JSON readers (everything else is in pyproject.toml).

The extension is optional: where no C compiler is found the package still installs, and pyarrow
reads every file (``astraguard_train.data.readers.fast.available()`` says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "astraguard_train.data.readers._fastparse",
            ["astraguard_train/data/readers/_fastparse.c"],
            optional=True,
        )
    ]
)
