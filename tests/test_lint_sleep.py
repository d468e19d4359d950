"""No test sleeps longer than 0.5 s (docs/reliability.md F8): waits are on the clock (time-machine), on
an event, or on the server's log, never on a fixed pause.

Every tests/*.py is parsed with `ast`. A call to `sleep` by any spelling (`time.sleep`,
`asyncio.sleep`, `from time import sleep [as nap]`) whose argument is a constant (a literal,
arithmetic on literals, or a module-level name bound to one) over 0.5 s fails, naming
file:line. A sleep of a computed value is not judged here: the fault server's `_sleep`
(tests/servers.py) simulates a hang in 50 ms steps for as long as the request asks.
"""

from __future__ import annotations

import ast
import operator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
LIMIT = 0.5

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


def _value(node: ast.AST, names: dict[str, float]) -> float | None:
    """The number a constant expression stands for, or None when it is computed at run time."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        inner = _value(node.operand, names)
        return None if inner is None else _OPS[type(node.op)](inner)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _value(node.left, names), _value(node.right, names)
        if left is None or right is None:
            return None
        try:
            return float(_OPS[type(node.op)](left, right))
        except (ArithmeticError, ValueError):
            return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("float", "int") \
            and len(node.args) == 1:
        return _value(node.args[0], names)
    return None


def long_sleeps(source: str, filename: str = "<test>") -> list[str]:
    """`file:line: call` for every sleep of a constant over LIMIT seconds in `source`."""
    tree = ast.parse(source, filename)
    names: dict[str, float] = {}
    sleep_names = {"sleep"}
    for node in tree.body:  # module-level constants, in order
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _value(node.value, names)
            if value is not None:
                names[node.targets[0].id] = value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            value = _value(node.value, names)
            if value is not None:
                names[node.target.id] = value
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("time", "asyncio", "trio", "anyio"):
            sleep_names |= {alias.asname or alias.name for alias in node.names if alias.name == "sleep"}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if not ((isinstance(func, ast.Name) and func.id in sleep_names)
                or (isinstance(func, ast.Attribute) and func.attr == "sleep")):
            continue
        arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg in ("secs", "seconds", "delay")), None)
        seconds = None if arg is None else _value(arg, names)
        if seconds is not None and seconds > LIMIT:
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", sorted(TESTS.glob("*.py")), ids=lambda p: p.name)
def test_no_test_sleeps_longer_than_half_a_second(path):
    found = long_sleeps(path.read_text(encoding="utf-8"), f"tests/{path.name}")
    assert not found, ("a test sleeps over 0.5 s; wait on an event, the server's log or a controlled clock "
                       "(time-machine) instead:\n" + "\n".join(found))


@pytest.mark.parametrize(("code", "flagged"), [
    ("import time\ntime.sleep(3)\n", True),
    ("import time\ntime.sleep(0.5)\n", False),
    ("import time\ntime.sleep(0.05)\n", False),
    ("from time import sleep\nsleep(1)\n", True),
    ("from time import sleep as nap\nnap(0.75)\n", True),
    ("import asyncio\nasync def f():\n    await asyncio.sleep(2)\n", True),
    ("import time\nDELAY = 2 * 0.5 + 0.1\ndef test():\n    time.sleep(DELAY)\n", True),
    ("import time\ntime.sleep(secs=5)\n", True),
    ("import time\ndef f(seconds):\n    time.sleep(seconds)\n", False),
    ("import time\ndef _sleep(h, s):\n    time.sleep(0.05)\n_sleep(None, 30)\n", False),
    ("import time\ntime.sleep(min(0.05, 10))\n", False),
])
def test_the_lint_catches_every_spelling_of_a_long_sleep(code, flagged):
    assert bool(long_sleeps(code)) is flagged, code
