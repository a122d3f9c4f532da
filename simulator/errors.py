"""One error type for every bad input: it names the file, the field path and the problem."""
from __future__ import annotations


class CostsimError(ValueError):
    """A user-facing error. ``str(err)`` is a single line: ``FILE: FIELD: PROBLEM``."""

    def __init__(self, problem: str, *, source: str | None = None, field: str | None = None):
        self.problem = " ".join(str(problem).split())
        self.source = source
        self.field = field
        super().__init__(self.line())

    def line(self) -> str:
        parts = [p for p in (self.source, self.field) if p]
        return ": ".join(parts + [self.problem])

    def with_source(self, source: str) -> "CostsimError":
        if self.source:
            return self
        return type(self)(self.problem, source=source, field=self.field)


class OutOfMemoryError(CostsimError):
    """The run does not fit in device memory; the message says how much it needs."""


class UnsupportedError(CostsimError):
    """The estimate cannot be made on this hardware (for example a quantum profile)."""
