"""Errors raised for bad input, before any work starts, and the one a diverging training raises."""

from __future__ import annotations

from collections.abc import Iterable


class ParameterError(ValueError):
    """A parameter has a value outside its allowed set.

    The message names the parameter, the value given, and what is allowed, so a user can fix
    the call without reading code.
    """

    def __init__(self, parameter: str, value: object, allowed: str | Iterable[object]):
        if not isinstance(allowed, str):
            allowed = ", ".join(str(a) for a in allowed)
        self.parameter = parameter
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {parameter}={value!r}; allowed: {allowed}")

    def __reduce__(self):  # rebuild from the three fields, so the error crosses processes (Ray, pickle)
        return type(self), (self.parameter, self.value, self.allowed)


class DataFileError(ValueError):
    """A local data file cannot be used; the message names the file and the row or column."""


class NotApplicableError(ValueError):
    """A chapter cannot analyse the data it was given (e.g. human ratings exist only for
    Rotten Tomatoes snippets); the message says why. The book shows it in place of the chapter."""


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN or infinite; the run named in the message stored nothing."""
