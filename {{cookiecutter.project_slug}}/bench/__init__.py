"""The benchmark, `python -m bench`: measurement code, kept out of the package and its wheel."""
