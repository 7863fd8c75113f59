"""Errors raised for bad input, each naming the file, row or key and the fix."""


class DataError(ValueError):
    """Input data that cannot be used as given; the message names the input and the fix."""
