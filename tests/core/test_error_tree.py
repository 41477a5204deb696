"""One exception tree: deliberate raises in rewardkit and its adapters use ``_errors.py`` classes.

The check parses every module of ``src/rewardkit``, ``adapters/*/src`` and ``demo/src`` with ``ast`` and fails on
a ``raise`` of a builtin exception class (``raise ValueError(...)``, ``raise KeyError``) that no
rule below allows. Re-raises (``raise``, ``raise exc``) name no builtin class and pass.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import rewardkit._errors as errors_module

ROOT = Path(__file__).resolve().parents[2]

#: Builtin exception classes a deliberate raise must not use directly.
BUILTIN_EXCEPTIONS = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)

#: Decorators of pydantic validators: pydantic turns only ``ValueError`` / ``AssertionError`` /
#: ``PydanticCustomError`` raised in them into a ``ValidationError``, so they keep ``ValueError``.
PYDANTIC_VALIDATORS = frozenset(
    {"field_validator", "model_validator", "validator", "root_validator"}
)

#: Whole files allowed to raise builtins.
ALLOWED_FILES = {
    # Runs inside the user's program (the sandboxed assert harness), which must not import
    # rewardkit; it mimics the exceptions Python itself would raise.
    "src/rewardkit/verifiers/_assert_harness.py",
}

#: Single raises allowed by (file, enclosing function, exception class). Keep each commented.
ALLOWED_RAISES = {
    # H's gather code (issue 16) re-raises another rank's failure; to become a rewardkit error
    # when that work lands (then drop this entry: the test fails on a stale one).
    ("adapters/trl/src/rewardkit_trl/_scorer.py", "score_call", "RuntimeError"),
}


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    function: str
    exception: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}(): raise {self.exception}"


def _decorator_names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = set()
    for deco in fn.decorator_list:
        node = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Name):
            names.add(node.id)
    return names


def _raised_name(node: ast.Raise) -> str | None:
    """The builtin exception class a raise names, or None (a re-raise, a rewardkit class)."""
    exc = node.exc
    if exc is None:
        return None
    target = exc.func if isinstance(exc, ast.Call) else exc
    if isinstance(target, ast.Name) and target.id in BUILTIN_EXCEPTIONS:
        return target.id
    return None


def _handled_locally(name: str, tries: list[ast.Try]) -> bool:
    """Whether an enclosing ``try`` (in the same function) catches ``name``: control flow."""
    raised = getattr(builtins, name)
    for node in tries:
        for handler in node.handlers:
            kinds = handler.type
            elts = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
            for kind in elts:
                if kind is None:
                    return True
                if (
                    isinstance(kind, ast.Name)
                    and kind.id in BUILTIN_EXCEPTIONS
                    and issubclass(raised, getattr(builtins, kind.id))
                ):
                    return True
    return False


def builtin_raises(source: str, path: str) -> list[Hit]:
    """Raises of a builtin exception class in ``source`` that no structural rule allows."""
    hits: list[Hit] = []

    def visit(
        node: ast.AST,
        function: ast.FunctionDef | ast.AsyncFunctionDef | None,
        in_class: bool,
        tries: list[ast.Try],
    ) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, function, True, [])
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                # a method is a function directly in a class body
                child._rk_method = in_class and function is None  # type: ignore[attr-defined]
                visit(child, child, False, [])
            elif isinstance(child, (ast.Try, getattr(ast, "TryStar", ast.Try))):
                for stmt in child.body:  # only the body is protected by the handlers
                    visit_stmt(stmt, function, in_class, [*tries, child])
                for part in (*child.handlers, *child.orelse, *child.finalbody):
                    visit_stmt(part, function, in_class, tries)
            else:
                if isinstance(child, ast.Raise):
                    check(child, function, tries)
                visit(child, function, in_class, tries)

    def visit_stmt(stmt, function, in_class, tries) -> None:
        wrapper = ast.Module(body=[stmt], type_ignores=[])
        visit(wrapper, function, in_class, tries)

    def check(node: ast.Raise, function, tries: list[ast.Try]) -> None:
        name = _raised_name(node)
        if name is None:
            return
        fn_name = function.name if function is not None else "<module>"
        if function is not None and _decorator_names(function) & PYDANTIC_VALIDATORS:
            return  # pydantic needs ValueError
        if name == "NotImplementedError" and getattr(function, "_rk_method", False):
            return  # a method a subclass must provide
        if name == "AttributeError" and fn_name == "__getattr__":
            return  # the module / attribute protocol requires AttributeError
        if _handled_locally(name, tries):
            return  # caught by the same function: control flow, never escapes
        hits.append(Hit(path, node.lineno, fn_name, name))

    visit(ast.parse(source), None, False, [])
    return hits


def _sources(root: Path) -> list[Path]:
    dirs = [
        root / "src" / "rewardkit",
        *sorted((root / "adapters").glob("*/src")),
        root / "demo" / "src",
    ]
    return sorted(p for d in dirs for p in d.rglob("*.py"))


def scan(root: Path = ROOT) -> list[Hit]:
    """Every disallowed builtin raise under ``root`` (allow-listed entries included)."""
    hits: list[Hit] = []
    for p in _sources(root):
        rel = p.relative_to(root).as_posix()
        if rel in ALLOWED_FILES:
            continue
        hits += builtin_raises(p.read_text(encoding="utf-8"), rel)
    return hits


def test_deliberate_raises_use_the_error_tree() -> None:
    hits = [h for h in scan() if (h.path, h.function, h.exception) not in ALLOWED_RAISES]
    assert not hits, (
        "raise a class of src/rewardkit/_errors.py (ArgumentError for a bad value, "
        "ArgumentTypeError, BatchError, ... subclassing the builtin callers catch) instead of:\n"
        + "\n".join(map(str, hits))
    )


def test_allow_list_is_not_stale() -> None:
    found = {(h.path, h.function, h.exception) for h in scan()}
    assert found >= ALLOWED_RAISES, (
        f"allow-list entries that match no raise: {ALLOWED_RAISES - found}"
    )
    for rel in ALLOWED_FILES:
        assert (ROOT / rel).is_file(), rel


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("def f(x):\n    raise ValueError(f'bad {x}')\n", ["ValueError"]),
        ("def f():\n    raise KeyError\n", ["KeyError"]),
        ("raise RuntimeError('at import')\n", ["RuntimeError"]),
        ("class C:\n    def m(self):\n        raise TypeError('no')\n", ["TypeError"]),
        # a module-level function raising NotImplementedError is no abstract method
        ("def f():\n    raise NotImplementedError\n", ["NotImplementedError"]),
        # a handler's body is not protected by its own try
        (
            "def f():\n    try:\n        pass\n    except ValueError:\n        raise ValueError('x')\n",
            ["ValueError"],
        ),
        # caught by another function's try: still flagged
        (
            "def f():\n    try:\n        def g():\n            raise OSError\n    except OSError:\n"
            "        pass\n",
            ["OSError"],
        ),
        ("def f():\n    raise ArgumentError('ok')\n", []),
        (
            "def f(exc):\n    try:\n        pass\n    except Exception:\n        raise\n"
            "    raise exc\n",
            [],
        ),
        (
            "class M:\n    @field_validator('x')\n    @classmethod\n    def v(cls, x):\n"
            "        raise ValueError('pydantic wants this')\n",
            [],
        ),
        ("class A:\n    def run(self):\n        raise NotImplementedError\n", []),
        ("def __getattr__(name):\n    raise AttributeError(name)\n", []),
        (
            "def f():\n    try:\n        raise ValueError('control flow')\n"
            "    except (KeyError, ValueError):\n        return None\n",
            [],
        ),
        (
            "def f():\n    try:\n        raise FileNotFoundError\n    except OSError:\n        pass\n",
            [],
        ),
    ],
)
def test_scanner(source: str, flagged: list[str]) -> None:
    assert [h.exception for h in builtin_raises(source, "x.py")] == flagged


def _tree_block(text: str) -> list[str]:
    """The lines of the first ``RewardKitError`` tree drawing in ``text`` (stripped)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "RewardKitError")
    block = []
    for line in lines[start:]:
        if not line.strip() or line.strip().startswith("```"):
            break
        block.append(line.strip())
    return block


def _tree_names(block: list[str]) -> set[str]:
    return {m.group(1) for line in block if (m := re.match(r"[│├└─\s]*([A-Z]\w+Error)\b", line))}


def _error_classes(root: Path = ROOT) -> set[str]:
    """Every class in the scanned sources deriving (transitively) from ``RewardKitError``."""
    bases: dict[str, set[str]] = {}
    for p in _sources(root):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = {
                    b.id if isinstance(b, ast.Name) else b.attr
                    for b in node.bases
                    if isinstance(b, (ast.Name, ast.Attribute))
                }
                bases.setdefault(node.name, set()).update(names)
    tree = {"RewardKitError"}
    grown = True
    while grown:
        new = {name for name, b in bases.items() if b & tree} - tree
        tree |= new
        grown = bool(new)
    return tree


def test_errors_docstring_lists_every_error_class() -> None:
    documented = _tree_names(_tree_block(errors_module.__doc__ or ""))
    defined = _error_classes()
    assert defined - documented == set(), "add these to the tree in _errors.py's docstring"
    assert documented - defined == set(), "the tree in _errors.py names classes that do not exist"


def test_concepts_doc_tree_matches_errors_module() -> None:
    doc = (ROOT / "docs" / "concepts.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Errors") :]
    assert _tree_block(section) == _tree_block(errors_module.__doc__ or "")
