"""The exercise checks and solutions now live in the package, :mod:`headwidgets.exercises`,
so that the notebooks import them from any working directory. These modules re-export them for
older copies of the notebooks (``from solutions import induction``)."""
