"""The shape of the code: the core knows no domain, and a new domain needs no edit outside itself."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.app import App
from bot.core.router import Command, Router
from bot.core.turn import Turn
from bot.domains import DOMAINS, build_router
from bot.messages import Choice
from tests.conftest import Chat

BOT = Path(__file__).resolve().parent.parent / "bot"
CORE = sorted(str(p.relative_to(BOT)) for p in (BOT / "core").glob("*.py"))
# What the core may lean on besides itself: the messages that cross it, storage, translations,
# content as data, log ids.
INFRASTRUCTURE = ("bot.messages", "bot.storage", "bot.i18n", "bot.content", "bot.privacy", "bot.config")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot"):
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bot")}
    return found


def test_the_core_imports_no_domain() -> None:
    core = {"bot." + name.removesuffix(".py").replace("/", ".") for name in CORE}
    for name in CORE:
        for module in imports(BOT / name):
            allowed = module in core or module.rsplit(".", 1)[0] in core or module == "bot.core"
            allowed = allowed or module.startswith(INFRASTRUCTURE)
            assert allowed, f"bot/{name} imports {module}, which is not core"


def package_graph() -> dict[str, set[str]]:
    """bot's packages and top-level modules (bot.core, bot.clubs, bot.app ...) and what each imports."""
    units = {p.name for p in BOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    units |= {p.stem for p in BOT.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in BOT.rglob("*.py"):
        node = "bot." + path.relative_to(BOT).parts[0].removesuffix(".py")
        for module in imports(path):
            parts = module.split(".")
            if len(parts) > 1 and parts[1] in units and f"bot.{parts[1]}" != node:
                graph.setdefault(node, set()).add(f"bot.{parts[1]}")
    return graph


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    assert {"bot.core", "bot.care", "bot.clubs", "bot.learning", "bot.stats", "bot.storage"} <= set(graph)
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                cycle = [*path[path.index(target) :], target] if target in path else [node, target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_the_core_names_no_screen_of_a_domain() -> None:
    source = (BOT / "core/engine.py").read_text(encoding="utf-8")
    for name in ("dialog", "menu", "plan_", "announce_", "certificate", "consent", "rsvp", "club_"):
        assert f'"{name}' not in source, name


def toy(router: Router) -> None:
    """A whole domain: one command in three languages, and one screen."""

    @router.command("riddle", ("riddle", "igisakuzo", "devinette"))
    async def riddle(turn: Turn, command: Command) -> None:
        turn.ask("What has keys but opens no locks?", "toy.riddle", [Choice("piano", "A piano")])

    @router.screen("toy.*")
    async def answer(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        turn.say("Right: a piano!" if choice and choice.id == "piano" else "No.")
        await turn.home()
        return True


async def test_a_toy_domain_is_one_registration(app: App) -> None:
    app.engine.router = build_router((*DOMAINS, toy))
    app.engine._register_core()
    chat = Chat(app)
    await chat.onboard()
    await chat.send("igisakuzo")
    assert chat.last[-1].text == "What has keys but opens no locks?"
    await chat.send("a piano")
    assert chat.last[0].text.startswith("Right: a piano!")
    assert "Main menu" in chat.texts


def test_a_name_registered_twice_is_refused() -> None:
    router = build_router()
    try:
        router.command("menu")(lambda turn, command: None)  # type: ignore[arg-type,return-value]
    except ValueError as exc:
        assert "registered twice" in str(exc)
    else:
        raise AssertionError("a second 'menu' command was accepted")
