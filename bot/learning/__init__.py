"""Learning: the dialog runner, module lists, progress, achievements and certificates."""

from __future__ import annotations

from bot.core.router import Command, Router
from bot.core.turn import Turn
from bot.learning import achievements, recall, runner, screens, unclear
from bot.messages import Choice


def register(router: Router) -> None:
    phrases = unclear.Phrases.load()  # config/unclear.yaml: a broken list stops the bot at start

    @router.set_home
    async def home(turn: Turn, intro: str | None) -> None:
        await screens.menu(turn, intro)

    @router.command("menu", ("menu", "ahabanza", "urutonde", "menyu", "accueil"))
    async def menu(turn: Turn, command: Command) -> None:
        await screens.menu(turn)

    @router.command(
        "progress", ("progress", "aho ngeze", "intambwe", "progres", "progression", "mes progres")
    )
    async def progress(turn: Turn, command: Command) -> None:
        await screens.progress(turn)
        await turn.reprompt()

    async def in_dialog(turn: Turn) -> bool:
        d = turn.content.get(turn.state.dialog_id or "")
        if d is None or not turn.state.step_id:
            return False
        runner.prompt(turn, d, new_prompt=False)
        return True

    @router.screen(
        "dialog",
        reprompt=in_dialog,
        match_typed=False,
        needs_choice=False,
        expects_text=True,
        distress_check="after",  # a free-text answer is kept first
    )
    async def answer(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        d = turn.content.get(turn.state.dialog_id or "")
        if d is None or not turn.state.step_id:
            return False
        if choice is None and unclear.flags(phrases, turn, text):  # "?", "sinumva", « pas compris »
            unclear.explain(turn, d)
            return True
        return await runner.answer(turn, d, text, choice)

    @router.screen(unclear.SCREEN, needs_choice=False, reask=True)
    async def unclear_offer(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        return await unclear.answer_offer(phrases, turn, text, choice)

    @router.screen("certificate", needs_choice=False)
    async def certificate(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        # A typed answer is the name to print, unless it matches a button.
        if not await achievements.answer_certificate(turn, text, choice):
            await screens.menu(turn)
        return True

    @router.screen("menu")
    async def main_menu(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        assert choice is not None
        if choice.id == "continue":
            d = turn.content.get(turn.state.dialog_id or "")
            if d is None:
                return False
            turn.event("module_resumed", d.id)
            runner.resume(turn, d)
        elif entry := next((e for e in turn.menu_entries if e.id == choice.id), None):
            await entry.open(turn)
        else:
            await screens.module_list(turn, choice.id)
        return True

    async def same_list(turn: Turn) -> bool:
        if not turn.data.get("list_kind"):
            return False
        await screens.module_list(turn, turn.data["list_kind"])
        return True

    @router.screen("list", reprompt=same_list)
    async def module_list(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        assert choice is not None
        if choice.id == "menu":
            await screens.menu(turn)
            return True
        d = turn.content.get(choice.id)
        if d is None:
            return False
        await runner.start(turn, d)
        return True

    @router.screen("after", reask=True)
    async def after_module(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        assert choice is not None
        if choice.id == "retry" and await runner.retry_missed(turn):
            return True
        await screens.menu(turn)
        return True

    # -- spaced recall: missed questions again in 2 and 7 days (learning/recall.py) ------------

    @router.payload(recall.PREFIX)  # a recalled question's buttons answer at any time
    async def recall_tap(turn: Turn, payload: str) -> None:
        await recall.answer_tap(turn, payload, runner._verdict)

    @router.text_hook
    async def recall_typed(turn: Turn, text: str) -> bool:
        return await recall.typed(turn, text, runner._verdict) or await recall.typed_offer(turn, text)

    @router.command("recall_off", recall.OFF_WORDS, while_stopped=True)
    async def recall_off(turn: Turn, command: Command) -> None:
        await recall.turn_off(turn)
        await turn.reprompt()

    @router.command("recall_on", recall.ON_WORDS)
    async def recall_on(turn: Turn, command: Command) -> None:
        await recall.turn_on(turn)
        await turn.reprompt()
