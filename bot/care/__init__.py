"""Care: onboarding with consent, safeguarding and escalations, the learner's data rights."""

from __future__ import annotations

from bot.care import chat as care
from bot.care.safeguarding import Safeguarding
from bot.core.router import Command, Router
from bot.core.turn import Turn
from bot.messages import Choice, Inbound
from bot.storage import repo


def register(router: Router) -> None:
    def check(turn: Turn, inbound: Inbound) -> str:
        """When to read this message for distress: "before", "after" its answer, or "never"."""
        if not inbound.text or inbound.payload:
            return "never"
        when = turn.route.distress_check if turn.route is not None else "before"
        if when == "after" and turn.offered():
            return "before"  # buttons were offered, so the words are not an answer to keep
        return when

    @router.guard("safeguarding")
    async def distress(turn: Turn, inbound: Inbound) -> bool:
        # Checked before any other rule, on the whole text: a long message must not hide a cry for help.
        when = check(turn, inbound)
        if when != "before":
            turn.scratch["distress_check"] = when  # decided on arrival, before the answer moves on
            return False
        severity = turn.service(Safeguarding).assess(inbound.text)
        if severity is None:
            return False
        await care.on_distress(turn, severity, inbound.text, "keyword")
        return True

    @router.guard("after")
    async def distress_after_answer(turn: Turn, inbound: Inbound) -> None:
        # The learner's own words were kept (a reflection); now the care they may need.
        if turn.scratch.get("distress_check") != "after":
            return
        severity = turn.service(Safeguarding).assess(inbound.text)
        if severity is not None:
            await care.on_distress(turn, severity, inbound.text, "keyword")

    @router.guard("onboarding")
    async def language_first(turn: Turn, inbound: Inbound) -> bool:
        if turn.user.language is None:
            await care.greet_in_their_language(turn, inbound.text)
            care.ask_language(turn, greet=True)
            return True
        return False

    @router.guard("onboarding")
    async def consent_next(turn: Turn, inbound: Inbound) -> bool:
        if turn.user.consent is None:
            care.ask_age(turn)
            return True
        return False

    @router.set_language_prompt
    async def language_prompt(turn: Turn, greet: bool) -> None:
        care.ask_language(turn, greet=greet)

    @router.command("language", ("language", "ururimi", "langue", "langues", "indimi"), before_language=True)
    async def language(turn: Turn, command: Command) -> None:
        care.ask_language(turn)

    @router.command(
        "help",
        ("help", "ubufasha", "aide", "fasha", "nfasha", "au secours"),
        before_language=True,
        while_stopped=True,
    )
    async def help_(turn: Turn, command: Command) -> None:
        # "help" is also the safe word: usage help, the helplines and a person on offer.
        care.help_(turn)
        await care.offer_person(turn)

    @router.command(
        "privacy", ("privacy", "ibanga", "confidentialite", "consent", "consentement"), while_stopped=True
    )
    async def privacy(turn: Turn, command: Command) -> None:
        care.privacy(turn)

    # Data rights hold from the first message, before any language is chosen.
    @router.command(
        "mydata",
        ("mydata", "my data", "amakuru yanjye", "mes donnees"),
        before_language=True,
        while_stopped=True,
    )
    async def mydata(turn: Turn, command: Command) -> None:
        await care.my_data(turn)
        await turn.reprompt()

    @router.command(
        "delete",
        (
            "delete",
            "delete my data",
            "delete everything",
            "erase",
            "erase my data",
            "siba",
            "siba amakuru",
            "siba amakuru yanjye",
            "siba byose",
            "gusiba",
            "gusiba amakuru yanjye",
            "supprimer",
            "supprime",
            "supprimer mes donnees",
            "supprime mes donnees",
            "supprimer tout",
            "effacer",
            "efface",
            "effacer mes donnees",
            "efface mes donnees",
            "effacer tout",
        ),
        before_language=True,
        while_stopped=True,
    )
    async def delete(turn: Turn, command: Command) -> None:
        care.confirm_delete(turn)

    @router.screen("language", aliases=care.LANGUAGE_ALIASES, during_onboarding=True)
    async def language_chosen(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        assert choice is not None
        await repo.set_language(turn.conn, turn.user.id, choice.id)
        turn.user = await repo.get_user(turn.conn, turn.user.id) or turn.user
        turn.event("language_set", language=choice.id)
        thanks = turn._("Thank you! I will write to you in English.")
        if turn.user.consent is None:
            turn.say(thanks)
            care.ask_age(turn)
        else:
            await turn.home(thanks)
        return True

    @router.screen("age", during_onboarding=True, reask=True)
    async def age(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        assert choice is not None
        await care.answer_age(turn, choice)
        return True

    @router.screen("consent", during_onboarding=True, reask=True)
    async def consent(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        assert choice is not None
        intro = None if choice.id == "keep" else await care.answer_consent(turn, choice)
        await turn.home(intro)
        return True

    @router.screen("care", during_onboarding=True, reask=True)
    async def after_distress(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        assert choice is not None
        if await care.answer_care(turn, choice):
            return True
        back = turn.data.pop("care_return", None)
        if choice.id == "continue":
            turn.data["screen"] = back  # back where the learner was, and its question again
            await turn.reprompt()
        else:
            await turn.home()
        return True

    @router.screen("delete", during_onboarding=True, reask=True)
    async def erase(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        assert choice is not None
        if choice.id == "erase":
            await care.erase(turn)
        else:
            await turn.home()
        return True
