"""The package's layout and the way its imports point (DESIGN §2, README "Layout").

Read from the source with ``ast`` (nothing is imported): every ``import`` of an
``algotrading`` module, at module top or inside a function, is an arrow from the room of
the importing file to the room of the imported one. A room is a package directly under
``src/algotrading`` (``decisions``, ``storage``, ...) or one of the top-level modules.
"""

from __future__ import annotations

import ast
import graphlib
import re
from collections import defaultdict
from pathlib import Path

import pytest

from algotrading.daily import artifacts

SRC = Path(__file__).resolve().parents[1] / "src" / "algotrading"

#: The face and the foundations: the only modules directly in src/algotrading.
TOP_LEVEL = {
    "__init__",
    "__main__",
    "cli",
    "config",
    "calendar",
    "paths",
    "logs",
    "indicators",
    "portfolio",
    "faults",
    "errors",
    "strategy_names",
    "collector",
}
#: Foundations import only each other (and the outside world): the top level but the face.
FOUNDATIONS = TOP_LEVEL - {"__init__", "__main__", "cli"}
#: The decision rules are pure: they import only these rooms.
DECISIONS_MAY_IMPORT = {"decisions", "config", "portfolio", "calendar"}
#: DESIGN §2's table, "may not import".
FORBIDDEN = {
    "data": {"strategies", "backtest", "decisions"},
    "strategies": {"backtest", "decisions", "broker"},
    "backtest": {"decisions", "broker", "execution"},
    "storage": {"broker", "execution", "report"},
    "broker": {"decisions", "execution", "report"},
    "execution": {"report", "notify", "monitor"},
    "report": {"broker", "execution", "jobs", "replay", "cli"},
    "notify": {"broker", "execution", "jobs", "cli"},
    "monitor": {"broker", "execution", "jobs", "cli"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    """``algotrading.decisions.plan`` -> ``decisions``; ``algotrading.config`` -> ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(dotted: str) -> bool:
    where = SRC.parent / dotted.replace(".", "/")
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported algotrading module, line, at module top) for each import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    top_nodes = {id(n) for n in tree.body}
    out: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # `from algotrading.daily import artifacts` imports the module algotrading.daily.artifacts
            names = [f"{module}.{a.name}" if _is_module(f"{module}.{a.name}") else module for a in node.names]
        else:
            continue
        out += [(n, node.lineno, id(node) in top_nodes) for n in names if n.split(".")[0] == "algotrading"]
    return out


SOURCES = sorted(p for p in SRC.rglob("*.py"))
ARROWS: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))  # room -> room -> where
for _path in SOURCES:
    for _module, _line, _top in _imports(_path):
        _from, _to = _room(_module_name(_path)), _room(_module)
        if _from != _to:
            ARROWS[_from][_to].append(f"{_path.relative_to(SRC)}:{_line} imports {_module}")


def _arrows_from(room: str) -> dict[str, list[str]]:
    return ARROWS.get(room, {})


def test_the_top_level_holds_only_the_face_and_the_foundations():
    modules = {p.stem for p in SRC.glob("*.py")}
    assert modules == TOP_LEVEL, f"move {sorted(modules - TOP_LEVEL)} into a package whose name says its room"
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages == {
        "backtest",
        "broker",
        "daily",
        "data",
        "decisions",
        "execution",
        "jobs",
        "monitor",
        "notify",
        "ops",
        "replay",
        "report",
        "schemas",
        "storage",
        "strategies",
    }
    for package in packages:
        doc = ast.get_docstring(ast.parse((SRC / package / "__init__.py").read_text()))
        assert doc, f"{package}/__init__.py needs a docstring that says what the room owns"


def test_the_decision_rules_import_only_config_the_portfolio_types_the_calendar_and_each_other():
    wrong = {to: where for to, where in _arrows_from("decisions").items() if to not in DECISIONS_MAY_IMPORT}
    assert not wrong, wrong


def test_the_foundations_import_only_foundations():
    for room in FOUNDATIONS:
        wrong = {to: where for to, where in _arrows_from(room).items() if to not in FOUNDATIONS}
        assert not wrong, (room, wrong)


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_no_room_imports_what_the_design_forbids(room):
    wrong = {to: where for to, where in _arrows_from(room).items() if to in FORBIDDEN[room]}
    assert not wrong, wrong


def test_no_two_rooms_import_each_other_and_there_is_no_longer_cycle_either():
    both = sorted((a, b) for a in ARROWS for b in ARROWS[a] if a < b and a in ARROWS.get(b, {}))
    assert not both, {f"{a} <-> {b}": ARROWS[a][b][:1] + ARROWS[b][a][:1] for a, b in both}
    graph = {room: set(targets) for room, targets in ARROWS.items()}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError on any cycle


def test_the_checker_sees_a_cycle_and_a_forbidden_arrow():
    """The rules above can fail: a two-way tie is a CycleError, a decisions -> storage arrow is found."""
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter({"report": {"replay"}, "replay": {"report"}}).prepare()
    assert _room("algotrading.storage.store") == "storage" and _room("algotrading.config") == "config"
    fake = SRC.parent / "algotrading" / "decisions" / "plan.py"
    assert any(m == "algotrading.decisions.cash" for m, _, _ in _imports(fake))


WRITERS = {name for name in vars(artifacts) if name.startswith("write_")} | {
    "atomic_write_json",
    "atomic_write_parquet",
}


def test_report_formats_and_renders_only():
    """report/ writes none of the run's data artifacts and opens no broker or account."""
    for path in sorted((SRC / "report").rglob("*.py")):
        tree = ast.parse(path.read_text())
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not used & WRITERS, f"{path.name} writes {sorted(used & WRITERS)}: that is a step's job (daily/)"
        assert not used & {"make_broker", "load_account", "open_store"}, f"{path.name} reaches the broker or the state"


def _catalog_names() -> dict[str, str]:
    names = {k: v for k, v in vars(artifacts).items() if k.isupper() and isinstance(v, str) and "." in v}
    names |= {f"DAILY_NOTEBOOKS[{i}]": v for i, v in enumerate(artifacts.DAILY_NOTEBOOKS)}
    return names


def test_every_run_folder_file_name_is_defined_in_the_catalog_only():
    names = _catalog_names()
    assert {
        "plan.json",
        "ranking.parquet",
        "sizing.json",
        "run.json",
        "report.html",
        "alerts.json",
        "validation.json",
        "email.eml",
        "email.html",
        "submission.json",
    } <= set(names.values())
    literal = re.compile("|".join(re.escape(v) for v in sorted(set(names.values()), key=len, reverse=True)))
    found = []
    for path in SOURCES:
        if path == SRC / "daily" / "artifacts.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and literal.fullmatch(node.value):
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value!r}")
    assert not found, f"use the names of daily/artifacts.py: {found}"


LOCAL_IMPORT_REASON = re.compile(r"#.*(local|import|s to import|start)", re.I)


def test_imports_sit_at_module_top_unless_a_comment_says_why():
    """A local import needs a measured start-up cost or a cycle, said in a comment nearby;
    cli.py says it once for its commands."""
    unexplained = []
    for path in SOURCES:
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
                if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                    continue
                if path.name == "cli.py":
                    continue
                context = lines[max(0, node.lineno - 3) : node.lineno]
                if not any(LOCAL_IMPORT_REASON.search(line) for line in context):
                    unexplained.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not unexplained, f"move these imports to the top of their module, or say why not: {unexplained}"
    assert "imports its modules when it runs" in (SRC / "cli.py").read_text()


def _readme_rows() -> list[set[str]]:
    """The rooms of each row of the README's layout table, top row first."""
    text = (SRC.parents[1] / "README.md").read_text()
    table = text[text.index("| room | owns | may import |") :].split("\n\n")[0].splitlines()[2:]
    return [{n.strip().strip("`").rstrip("/") for n in row.split("|")[1].split(",")} for row in table]


def test_the_readme_table_lists_every_room_and_each_imports_only_rooms_below_it():
    rows = _readme_rows()
    rank = {room: i for i, names in enumerate(rows) for room in names}
    rank["__init__"] = len(rows)  # the package's face: its version
    rooms = {_room(_module_name(p)) for p in SOURCES} - {"__init__", "schemas"}
    assert rooms <= set(rank), f"README's Layout table misses {sorted(rooms - set(rank))}"
    upward = [f"{a} -> {b}" for a in ARROWS for b in ARROWS[a] if rank[b] < rank[a]]  # one row: peers
    assert not upward, f"arrows that run up the README's table: {upward}"
