"""The layout is part of the contract: layers as folders, imports pointing down only, small modules.

These tests read the package's source with `ast` (nothing is mocked): every `import` — module level and the
lazy ones inside functions — is mapped to its layer.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import campaign

PACKAGE = Path(campaign.__file__).parent
ROOT = PACKAGE.parent

# Lowest first. A module may import from its own layer and from any layer below it.
LAYERS = {
    "campaign.errors": 0,
    "campaign.config": 0,
    "campaign.clock": 0,
    "campaign.series": 1,
    "campaign.ledger": 2,
    "campaign.providers": 3,
    "campaign.delivery": 4,
    "campaign.preflight": 4,
    "campaign.alerts": 4,
    "campaign.timing": 5,
    "campaign.web": 6,
    "campaign.studio": 6,
    "campaign.cli": 7,
}
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    for prefix, rank in sorted(LAYERS.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, *, top_level_only: bool = False) -> set[str]:
    """campaign.* modules imported by the file (TYPE_CHECKING blocks excluded: they never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    current = module_name(path)
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, nested: bool) -> None:
        if _type_checking_block(node):
            return
        if isinstance(node, ast.Import) and not (top_level_only and nested):
            found.update(alias.name for alias in node.names if alias.name.startswith("campaign"))
        elif isinstance(node, ast.ImportFrom) and not (top_level_only and nested):
            if node.level:
                base = current.split(".") if is_package else current.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("campaign"):
                # `from campaign.cli import series` imports the submodule campaign.cli.series
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if candidate in MODULES else target)
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            visit(child, inner)

    visit(tree, False)
    found.discard(current)
    return found


def test_every_module_belongs_to_a_layer():
    loose = [m for m in MODULES if m not in ("campaign", "campaign.__main__") and layer_of(m) is None]
    assert loose == [], f"modules outside the layer map (add them to a package or to LAYERS): {loose}"


def test_imports_point_down_only():
    upward = []
    for module, path in MODULES.items():
        mine = layer_of(module)
        if mine is None:
            continue
        for target in imports_of(path):
            theirs = layer_of(target)
            if theirs is not None and theirs > mine:
                upward.append(f"{module} (layer {mine}) imports {target} (layer {theirs})")
    assert upward == []


def test_named_rules_of_the_issue():
    """series imports neither ledger nor delivery; ledger imports no delivery, timing, web or cli."""
    rules = {
        "campaign.series": ("campaign.ledger", "campaign.delivery"),
        "campaign.ledger": ("campaign.delivery", "campaign.timing", "campaign.web", "campaign.cli"),
    }
    broken = [
        f"{module} imports {target}"
        for module, path in MODULES.items()
        for package, banned in rules.items()
        if module == package or module.startswith(package + ".")
        for target in imports_of(path)
        if target.startswith(banned)
    ]
    assert broken == []


def test_no_import_circles():
    graph = {m: {t for t in imports_of(p, top_level_only=True) if t in MODULES} for m, p in MODULES.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + ".") or node == "campaign":
                continue  # a package importing its own submodules is not a circle
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                walk(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [])
    assert cycles == []


def test_no_module_over_the_size_limit():
    big = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}


def test_sqlalchemy_only_in_the_ledger_and_environ_only_in_config():
    offenders = []
    for module, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        if any(n.startswith("sqlalchemy") or n.startswith("alembic") for n in names) and not module.startswith(
            "campaign.ledger"
        ):
            offenders.append(f"{module} imports SQLAlchemy")
        reads_env = any(
            (
                isinstance(n, ast.Attribute)
                and n.attr in ("environ", "getenv", "environb")
                and isinstance(n.value, ast.Name)
                and n.value.id == "os"
            )
            or (
                isinstance(n, ast.ImportFrom)
                and n.module == "os"
                and any(a.name in ("environ", "getenv") for a in n.names)
            )
            for n in ast.walk(tree)
        )
        if module != "campaign.config" and reads_env:
            offenders.append(f"{module} reads the environment")
    assert offenders == []


def test_every_exception_lives_in_errors():
    strays = []
    for module, path in MODULES.items():
        if module == "campaign.errors":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b) for b in node.bases}
                if any(b.endswith(("Error", "Exception")) or b in {"CampaignError", "InvalidInput"} for b in bases):
                    strays.append(f"{module}.{node.name}")
    assert strays == []


def test_public_api_is_sorted_and_every_name_resolves():
    assert campaign.__all__ == sorted(campaign.__all__)
    for name in campaign.__all__:
        assert getattr(campaign, name) is not None, name
    with pytest.raises(AttributeError):
        campaign.no_such_name  # noqa: B018


def _commands() -> set[str]:
    from campaign.cli import app

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    names |= {g.name or "" for g in app.registered_groups}
    return {n.replace("_", "-") for n in names}


@pytest.mark.parametrize(
    "argv",
    [[sys.executable, "-m", "campaign", "--help"], [str(Path(sys.executable).parent / "campaign"), "--help"]],
    ids=["python -m campaign", "campaign"],
)
def test_help_lists_every_command(argv):
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    commands = result.stdout.split("Commands:", 1)[1]
    listed = {line.split()[0] for line in commands.splitlines() if line.startswith("  ") and line.strip()}
    missing = _commands() - listed
    assert len(_commands()) >= 12
    assert missing == set(), f"--help does not list: {missing}"


def test_importing_the_cli_stays_light():
    """`campaign --help` must not pay for SQLAlchemy, premailer, Jinja2 or requests."""
    code = "import sys, campaign.cli; print(','.join(sorted(m for m in ('sqlalchemy','premailer','jinja2','requests','mjml','apscheduler') if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_exception_tree_drawn_in_errors_names_every_exception():
    import inspect

    from campaign import errors

    classes = [
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == errors.__name__
    ]
    drawn = errors.__doc__ or ""
    assert classes and [c for c in classes if f" {c} " not in drawn and not drawn.count(f"── {c}")] == []


# -- one home for each fact, one state machine per thing (issue 18) ------------------------------------------
STATE_HOMES = {  # where a state may be written as a string: the state machines and the schema
    "campaign.ledger.states",
    "campaign.ledger.schema",
    "campaign.ledger.issues",
    "campaign.ledger.deliveries",
}
# The providers' own vocabularies happen to share words with ours (Mailgun's "failed" and "complained" events,
# its domain state "active", Resend's "rejected"): those modules speak the provider's language, not ours.
PROVIDER_WORDS = (
    "campaign.providers",
    "campaign.web.webhooks",
    "campaign.preflight.probes",
    "campaign.ledger.migrations",
)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_no_state_literal_outside_its_state_machine():
    from campaign.ledger import states

    values = {m.value for e in (states.SubscriberStatus, states.DeliveryStatus, states.IssueState) for m in e}
    values |= {m.value for m in states.WelcomeStatus}
    strays = []
    for module, path in MODULES.items():
        if module in STATE_HOMES or module.startswith(PROVIDER_WORDS):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in values and id(node) not in docs:
                strays.append(f"{module}:{node.lineno}: {node.value!r}")
    assert strays == [], "use the StrEnum members of campaign/ledger/states.py"


def test_dialect_checks_stay_inside_the_ledger():
    strays = []
    for module, path in MODULES.items():
        if module.startswith("campaign.ledger"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "dialect":
                strays.append(f"{module}:{node.lineno}")
    assert strays == [], "ask the Store (e.g. Store.shared) instead of its engine's dialect"


def test_no_private_name_is_imported_across_modules():
    strays = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("campaign"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        strays.append(f"{module}:{node.lineno}: {node.module}.{alias.name}")
    assert strays == [], "make it public in its module (a name other modules need is part of its API)"


MAX_FUNCTION_LINES = 80


def test_no_function_is_over_80_lines():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert long == []


def test_the_sender_scheduler_and_web_app_see_the_ledger_through_their_narrow_views():
    """delivery/, timing/ and web/ are typed against the Protocols of ledger/views.py (mypy checks the Store
    provides them); only the CLI, where the pieces are put together, opens the Store itself."""
    strays = []
    for module, path in MODULES.items():
        if module.startswith(("campaign.delivery", "campaign.timing", "campaign.web")):
            if "campaign.ledger.store" in imports_of(path):
                strays.append(module)
    assert strays == []


def test_validate_in_a_folder_with_no_database_yet_imports_no_sqlalchemy(campaign_dir):
    """`campaign validate` before anything was sent reads the files alone: the database layer (SQLAlchemy) and
    the web layer (Flask) are not loaded, and no database file is created."""
    code = (
        "import sys\n"
        "from campaign.cli import main\n"
        "sys.argv = ['campaign', 'validate']\n"
        "try:\n    main()\nexcept SystemExit as done:\n    assert not done.code, done.code\n"
        "print('loaded:', ','.join(m for m in ('sqlalchemy', 'flask', 'alembic') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=campaign_dir.root, env=campaign_dir.env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "ok: 30 days" in result.stdout and result.stdout.strip().endswith("loaded:")
    assert not (campaign_dir.root / "campaign.db").exists()
