"""Which kind a file's fields belong to: a profile or workload whose ``kind`` was changed (or mistyped as
another real kind) fails with many unknown fields; this names ``kind`` as the field that decides it."""
from __future__ import annotations

from typing import Mapping, get_args

from pydantic import BaseModel

from ..schema.hardware import HardwareProfile
from ..schema.workload import Workload


def _members(union) -> dict[str, type[BaseModel]]:
    """{kind: model} of a tagged union such as HardwareProfile."""
    models = get_args(get_args(union)[0])
    return {get_args(m.model_fields["kind"].annotation)[0]: m for m in models}


KINDS = {"hardware": _members(HardwareProfile), "workload": _members(Workload)}


def wrong_kind(data: Mapping, family: str) -> str | None:
    """The problem with ``data``'s ``kind`` where its top-level keys are unknown to that kind but all known
    to another (the kind, not the keys, is then what is wrong); None otherwise."""
    members = KINDS[family]
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in members:
        return None
    keys = {k for k in data if isinstance(k, str)} - {"extends"}
    unknown = sorted(keys - set(members[kind].model_fields))
    if not unknown:
        return None
    fits = [k for k, m in members.items() if k != kind and keys <= set(m.model_fields)]
    if not fits:
        return None
    noun = "profile" if family == "hardware" else family
    names = fits[0] if len(fits) == 1 else ", ".join(fits[:-1]) + f" or {fits[-1]}"
    shown = ", ".join(unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
    return (f"'{kind}', but {shown} {'are fields' if len(unknown) > 1 else 'is a field'} of a "
            f"{names} {noun}, not of a {kind} one: check kind")
