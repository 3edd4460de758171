"""The folders' promise: one concern a room, imports pointing down only, no circles.

Rooms from lowest to highest: db and config; then ivr, telephony, surveys, sms,
dialplans, supervision, call_log, workforce and kpi; then agent_console and reports (which reads every feature's
records for the industry report); then hotline (the commands, imported by nothing but their
entry point). The emulator (emulator/) stands beside the rooms it imitates Asterisk
for: tests, benchmarks and the demo command may import it, the hotline's own code never.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEVELS = {"config": 0, "db": 0, "ivr": 1, "telephony": 1, "surveys": 1, "sms": 1, "dialplans": 1, "supervision": 1,
          "call_log": 1, "workforce": 1, "kpi": 1, "agent_console": 2, "reports": 2, "hotline": 3}
EMULATOR = "emulator"
# May import the emulator: it is a test tool, and the demo command's.
EMULATOR_USERS = {"tests", "bench", "hotline", EMULATOR}
# What the emulator may import: what it imitates Asterisk for (never the console or the commands).
EMULATOR_LEVEL = 1
PACKAGES = [*LEVELS, EMULATOR, "bench"]


def project_files() -> dict[str, Path]:
    """Module name -> file, for every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # run by Alembic, not imported
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[str, int, bool]]:
    """(imported project module, line, at module level) for each import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    # `if TYPE_CHECKING:` blocks run only for type checkers.
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top_level |= {id(child) for child in node.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            module = target
            while module and module not in known:
                module = module.rpartition(".")[0]
            if module:
                found.append((module, node.lineno, id(node) in top_level))
    return found


def room(module: str) -> str:
    return module.split(".")[0]


def import_graph() -> dict[str, list[tuple[str, int, bool]]]:
    files = project_files()
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def test_imports_point_down_only():
    wrong = []
    for importer, imported in import_graph().items():
        for target, line, _ in imported:
            source_room, target_room = room(importer), room(target)
            where = f"{importer}:{line} imports {target}"
            if target_room == EMULATOR and source_room not in EMULATOR_USERS:
                wrong.append(f"{where} (the emulator is for tests, benchmarks and the demo)")
            elif source_room == EMULATOR and LEVELS.get(target_room, 0) > EMULATOR_LEVEL:
                wrong.append(f"{where} (the emulator imitates Asterisk: no console, no commands)")
            elif target_room == "hotline" and source_room != "hotline":
                wrong.append(f"{where} (hotline/ is commands only)")
            elif source_room in LEVELS and target_room in LEVELS and LEVELS[source_room] < LEVELS[target_room]:
                wrong.append(f"{where} (a lower room imports a higher one)")
    assert wrong == []


def test_no_import_circles_between_files():
    """Imports inside functions count too: a circle deferred to call time is still a circle."""
    graph = {name: {target for target, _, _ in imported if target != name} for name, imported in import_graph().items()}
    circles = [component for component in _strongly_connected(graph) if len(component) > 1]
    assert circles == []


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def test_the_checks_catch_what_they_are_for(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [sorted(c) for c in _strongly_connected(graph) if len(c) > 1] == [["a", "b", "c"]]
    known = {"ivr", "ivr.menu", "ivr.agi", "db", "db.models", "hotline", "hotline.cli"}
    source = tmp_path / "menu.py"
    source.write_text("from db.models import Call\nfrom . import agi\nimport json\n\n"
                      "def run():\n    import hotline.cli\n", encoding="utf-8")
    assert [(target, top) for target, _, top in imports_of("ivr.menu", source, known)] == [
        ("db.models", True), ("ivr.agi", True), ("hotline.cli", False)]


def test_the_production_command_does_not_load_the_emulator():
    code = "import sys, hotline.cli, agent_console, telephony.ami_service, surveys.dialer; " \
           "print(sorted(m for m in sys.modules if m.split('.')[0] == 'emulator'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_folder_says_in_one_line_what_lives_in_it():
    missing = []
    for package in PACKAGES:
        for init in sorted((ROOT / package).rglob("__init__.py")):
            docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
            if not docstring or len(docstring.strip().splitlines()) != 1:
                missing.append(str(init.relative_to(ROOT)))
    assert missing == []


def test_the_dialplan_contract_is_spelled_in_one_place():
    """What `grep -rn '"HOTLINE_' --include=*.py` finds outside the contract and the tests."""
    spelled = []
    for name, path in project_files().items():
        if name == "dialplans.contract":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if '"HOTLINE_' in line:
                spelled.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert spelled == []


def test_readme_layout_table_lists_every_folder():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\| ([^|]+) \|", section, re.M)
    listed = {name for cell in first_cells for name in re.findall(r"`([\w/]+)/`", cell)}
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name != "tests"}
    assert folders <= listed
    assert {name for name in listed if "/" not in name} <= folders | {"tests"}
