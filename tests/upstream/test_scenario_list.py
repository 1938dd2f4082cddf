"""The scenario list (``scenarios.py``), the scenario tests and the README's count agree.

Every applicable upstream scenario has its test; every test in ``tests/upstream`` is a listed
scenario or a listed extra handler; the README states ``upstream SDK suite: N/N scenarios`` with
N the number of scenario tests.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from scenarios import EXTRA_HANDLERS, SCENARIOS, applicable

HERE = Path(__file__).resolve().parent
README = HERE.parents[1] / "README.md"
NOT_SCENARIOS = {"test_scenario_list", "test_harness"}


def scenario_test_functions() -> dict[str, set[str]]:
    """``test_*`` coroutine functions by file, in the scenario test files."""
    found: dict[str, set[str]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        if path.stem in NOT_SCENARIOS:
            continue
        module = importlib.import_module(path.stem)
        found[path.stem] = {
            name
            for name, fn in vars(module).items()
            if name.startswith("test_") and inspect.iscoroutinefunction(fn)
        }
    return found


def test_every_applicable_scenario_has_its_test() -> None:
    tests = scenario_test_functions()
    missing = [
        f"{s.group} {s.name} -> {s.file}.{s.test_name}"
        for s in applicable()
        if s.test_name not in tests.get(str(s.file), set())
    ]
    assert not missing, missing


def test_every_test_is_a_listed_scenario_or_extra_handler() -> None:
    listed = {(s.file, s.test_name) for s in applicable()}
    listed |= {(h.file, h.test_name) for h in EXTRA_HANDLERS if h.test_name}
    unlisted = [
        f"{file}.{name}"
        for file, names in scenario_test_functions().items()
        for name in names
        if (file, name) not in listed
    ]
    assert not unlisted, unlisted


def test_scenarios_are_unique_and_say_why_when_left_out() -> None:
    keys = [(s.group, s.name) for s in SCENARIOS]
    assert len(keys) == len(set(keys))
    assert all(s.note for s in SCENARIOS if s.file is None)
    assert len({(s.file, s.test_name) for s in applicable()}) == len(applicable())


def test_readme_counts_the_scenario_tests() -> None:
    count = sum(1 for s in applicable() if s.test_name in scenario_test_functions()[str(s.file)])
    match = re.search(r"upstream SDK suite: (\d+)/(\d+) scenarios", README.read_text())
    assert match is not None, "README.md must state 'upstream SDK suite: N/N scenarios'"
    assert (int(match[1]), int(match[2])) == (count, len(applicable()))
