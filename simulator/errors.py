"""One error type for every bad input: it names the file, the field path and the problem."""
from __future__ import annotations


class CostsimError(ValueError):
    """A user-facing error. ``str(err)`` is a single line: ``FILE: FIELD: PROBLEM``."""

    def __init__(self, problem: str, *, source: str | None = None, field: str | None = None):
        self.problem = " ".join(str(problem).split())
        self.source = source
        self.field = field
        super().__init__(self.line())

    def __reduce__(self):
        # pickled (from a worker process) with its fields, not rebuilt from its one line alone
        return _restore, (type(self), dict(self.__dict__))

    def line(self) -> str:
        """``FILE: FIELD: PROBLEM``, leaving out the parts not known."""
        parts = [p for p in (self.source, self.field) if p]
        return ": ".join(parts + [self.problem])

    def prefixed(self, text: str) -> "CostsimError":
        """The same error (its type and figures kept) with ``text`` said before its problem."""
        state = dict(self.__dict__, problem=f"{text}: {self.problem}")
        return _restore(type(self), state)

    @classmethod
    def from_validation(cls, err, *, source: str | None = None, prefix: str | None = None,
                        tags: frozenset[str] | set[str] = frozenset(), unknown: str | None = None) -> "CostsimError":
        """The project's one line for a pydantic ``ValidationError`` (every site uses this).

        The first problem is named, a misspelt field (unknown, and as the right spelling missing) before
        any other; pydantic's "Value error, " prefix is dropped; the field is the error's location as a
        dotted path, after ``prefix`` (``plan``, ``strategy lowrank:2``), without the discriminator's
        tag (``tags``: the kinds of a tagged union, such as gpu or transformer); further problems are
        counted. ``unknown`` replaces the message for an unknown field (default: check the spelling)."""
        errors = err.errors()
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        msg = str(first["msg"])
        for noise in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(noise)
        parts = [str(p) for p in first["loc"]]
        if parts and parts[0] in tags:
            parts = parts[1:]
        field = ".".join(p for p in parts if not p.startswith("function-"))
        if first["type"] == "extra_forbidden":
            msg = unknown or "unknown field (check the spelling; see docs/profiles-and-workloads.md)"
        elif first["type"] == "union_tag_invalid":
            msg, field = f"unknown kind {first['ctx']['tag']!r}; expected one of {', '.join(sorted(tags))}", "kind"
        elif first["type"] == "union_tag_not_found":
            msg, field = f"missing (one of {', '.join(sorted(tags))})", "kind"
        elif first["type"] in ("int_type", "float_type", "bool_type", "string_type") and "input" in first:
            shown = repr(first["input"])  # strict inputs: say what was given, nothing is converted
            msg += f", got {shown if len(shown) <= 40 else shown[:37] + '...'} ({type(first['input']).__name__})"
        more = len(errors) - 1
        if more:
            msg += f" (and {more} more problem{'s' if more > 1 else ''})"
        field = ".".join(p for p in (prefix, field) if p) or "(top level)"
        return cls(msg, source=source, field=field)

    def with_source(self, source: str) -> "CostsimError":
        """The same error naming ``source`` as its file (itself where it already names one)."""
        if self.source:
            return self
        return type(self)(self.problem, source=source, field=self.field)


class OutOfMemoryError(CostsimError):
    """The run does not fit in device memory; the message says how much it needs.

    Attributes:
        needed_bytes: peak bytes per device the run needs (None where the raiser did not say).
        capacity_bytes: the device's memory in bytes (None where the raiser did not say).
        micro_batch: samples per device per pass at which it does not fit.
        accumulation_tried: whether gradient accumulation was tried down to micro-batch 1.
    """

    def __init__(self, problem: str, *, source: str | None = None, field: str | None = None,
                 needed_bytes: float | None = None, capacity_bytes: float | None = None,
                 micro_batch: float | None = None, accumulation_tried: bool = False):
        super().__init__(problem, source=source, field=field)
        self.needed_bytes = needed_bytes
        self.capacity_bytes = capacity_bytes
        self.micro_batch = micro_batch
        self.accumulation_tried = accumulation_tried

    def with_source(self, source: str) -> "OutOfMemoryError":
        """The same error, its figures kept, naming ``source`` as its file (itself where it names one)."""
        if self.source:
            return self
        return type(self)(self.problem, source=source, field=self.field, needed_bytes=self.needed_bytes,
                          capacity_bytes=self.capacity_bytes, micro_batch=self.micro_batch,
                          accumulation_tried=self.accumulation_tried)


class UnsupportedError(CostsimError):
    """The estimate cannot be made on this hardware (for example a quantum profile)."""


def _restore(cls: type, state: dict) -> CostsimError:
    """An error of ``cls`` with the fields it had: the other side of ``CostsimError.__reduce__``."""
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err.line())
    return err
