"""``simulator.api.__all__`` is written out by hand: it must name every public function and class the api
modules define, nothing defined elsewhere, and only names that import from ``simulator.api``."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import simulator.api as api


def _defined() -> dict[str, str]:
    """Public functions and classes defined in the api modules: name -> module."""
    found = {}
    for info in pkgutil.iter_modules(api.__path__):
        module = importlib.import_module(f"{api.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj)) \
                    and obj.__module__ == module.__name__:
                found[name] = module.__name__
    return found


def test_all_is_a_written_list_without_repeats():
    assert isinstance(api.__all__, list) and all(isinstance(n, str) for n in api.__all__)
    assert len(api.__all__) == len(set(api.__all__))


def test_all_names_every_public_function_and_class_of_the_api_modules():
    defined = _defined()
    exported = {n for n in api.__all__ if inspect.isfunction(getattr(api, n)) or inspect.isclass(getattr(api, n))}
    assert sorted(set(defined) - exported) == [], "defined in simulator.api's modules but not in __all__"
    assert sorted(exported - set(defined)) == [], "in __all__ but not defined in simulator.api's modules"


def test_the_other_names_are_constants_of_the_api_modules():
    others = [n for n in api.__all__ if not (inspect.isfunction(getattr(api, n)) or inspect.isclass(getattr(api, n)))]
    assert others and all(n.isupper() for n in others)
    modules = [importlib.import_module(f"{api.__name__}.{i.name}") for i in pkgutil.iter_modules(api.__path__)]
    assert all(any(n in vars(m) for m in modules) for n in others)


def test_each_name_imports_from_simulator_api():
    for name in api.__all__:
        namespace: dict = {}
        exec(f"from simulator.api import {name}", namespace)  # noqa: S102 (a name from the list above)
        assert namespace[name] is getattr(api, name)
