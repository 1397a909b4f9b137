"""A learner flags a message as unclear ("?", "sinumva", « je comprends pas »): simpler words where
the content has them, else the message in another language they pick; every flag is an `unclear`
event, and the staff dashboard lists the most-flagged texts. Through the real engine and web app,
on a fixture module with real French and Kinyarwanda text."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from babel.messages.pofile import read_po, write_po

from bot.app import App
from bot.config import PROJECT_ROOT, Settings
from bot.content.loader import load_content
from bot.content.models import context
from bot.i18n import Catalogs
from bot.learning import unclear
from bot.messages import Outbound, utcnow
from bot.stats.dashboard.accounts import add_account
from bot.web.server import build_web
from tests.conftest import Chat, on_backend

MODULE = """
id: hoe
kind: exercise
theme: dialogue
title: The borrowed hoe
steps:
- id: card
  type: say
  pause: true
  text: Your neighbour borrowed your hoe a month ago and has not brought it back.
  simple: Your neighbour has your hoe. It is a month now.
  next: ask
- id: ask
  type: choices
  text: You meet your neighbour at the market. What do you say first?
  simple: You see your neighbour. What do you say?
  choices:
  - id: need
    label: I need my hoe
    next: write
    score: 2
  - id: blame
    label: You never give back
    next: angry
  - id: quiet
    label: Say nothing
    next: write
    score: 1
- id: angry
  type: say
  text: Your neighbour gets angry.
  next: write
- id: write
  type: free_text
  text: Write how you would ask for the hoe back, kindly.
  rubric:
  - positive: true
    keywords: {en: [i need], fr: ["j'ai besoin"], rw: [nkeneye]}
    feedback: You said what you need.
  model_answer: I need my hoe for the field tomorrow.
  next: check
- id: check
  type: question
  text: Which words open a calm talk?
  options:
  - id: calm
    label: I feel worried
    explanation: Speaking of your own feeling invites the other to listen.
  - id: harsh
    label: You are a thief
    explanation: A label closes the door to the talk.
  - id: loud
    label: Listen to me now
    explanation: An order makes the other defend themselves.
  correct: calm
  next: end
- id: end
  type: end
  text: You kept the talk open.
"""

# msgctxt field -> (fr, rw)
TRANSLATIONS = {
    "meta/title": ("La houe empruntée", "Isuka yatiwe"),
    "card/text": (
        "Ton voisin a emprunté ta houe il y a un mois et ne l'a pas rendue.",
        "Umuturanyi wawe yatiye isuka yawe hashize ukwezi, kandi ntarayigarura.",
    ),
    "card/simple": (
        "Ton voisin a ta houe. Cela fait un mois.",
        "Umuturanyi afite isuka yawe. Hashize ukwezi.",
    ),
    "ask/text": (
        "Tu croises ton voisin au marché. Que dis-tu d'abord ?",
        "Uhuye n'umuturanyi wawe ku isoko. Ni iki ubanza kuvuga?",
    ),
    "ask/simple": ("Tu vois ton voisin. Que lui dis-tu ?", "Ubonye umuturanyi wawe. Uravuga iki?"),
    "ask/choices.need.label": ("Il me faut ma houe", "Nkeneye isuka yanjye"),
    "ask/choices.blame.label": ("Tu ne rends jamais", "Ntujya ugarura"),
    "ask/choices.quiet.label": ("Ne rien dire", "Guceceka"),
    "angry/text": ("Ton voisin se fâche.", "Umuturanyi wawe ararakara."),
    "write/text": (
        "Écris comment tu demanderais gentiment ta houe.",
        "Andika uko wasaba isuka yawe mu kinyabupfura.",
    ),
    "write/model_answer": (
        "J'ai besoin de ma houe pour le champ demain.",
        "Nkeneye isuka yanjye ejo mu murima.",
    ),
    "write/rubric.0.feedback": ("Tu as dit ce dont tu as besoin.", "Wavuze icyo ukeneye."),
    "check/text": (
        "Quels mots ouvrent une discussion calme ?",
        "Ni ayahe magambo atangiza ikiganiro gituje?",
    ),
    "check/options.calm.label": ("Je suis inquiet", "Mpangayitse"),
    "check/options.calm.explanation": (
        "Parler de ce que tu ressens invite l'autre à écouter.",
        "Kuvuga uko wiyumva bituma undi atega amatwi.",
    ),
    "check/options.harsh.label": ("Tu es un voleur", "Uri umujura"),
    "check/options.harsh.explanation": (
        "Une étiquette ferme la porte au dialogue.",
        "Kwita umuntu izina bifunga umuryango w'ibiganiro.",
    ),
    "check/options.loud.label": ("Écoute-moi", "Nyumva ubu"),
    "check/options.loud.explanation": (
        "Un ordre pousse l'autre à se défendre.",
        "Itegeko rituma undi yirwanaho.",
    ),
    "end/text": ("Tu as gardé le dialogue ouvert.", "Wakomeje ikiganiro."),
}
FR, RW = 0, 1
PASSWORD = "a long enough password"


def fr(key: str) -> str:
    return TRANSLATIONS[key][FR]


def rw(key: str) -> str:
    return TRANSLATIONS[key][RW]


def write_catalogs(dialogs: Path, target: Path, leave_out: str | None = None) -> Path:
    """The real catalogs, plus the module's texts in fr and rw (all but `leave_out`)."""
    content, _ = load_content(dialogs, Catalogs({}))
    d = content.get("hoe")
    assert d is not None
    for lang in ("rw", "fr", "en"):
        with (PROJECT_ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for step_id, field, text in d.texts():
            key = f"{step_id}/{field}"
            if lang != "en" and key == leave_out:
                continue
            translated = text if lang == "en" else TRANSLATIONS[key][FR if lang == "fr" else RW]
            catalog.add(text, translated, context=context(d.id, step_id, field))
        out = target / lang / "LC_MESSAGES" / "messages.po"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as fh:
            write_po(fh, catalog, width=100)
    return target


def make_dialogs(tmp_path: Path) -> Path:
    dialogs = tmp_path / "dialogs"
    for name in ("system/welcome.yaml", "system/help.yaml"):
        (dialogs / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "dialogs" / name, dialogs / name)
    (dialogs / "exercises").mkdir()
    (dialogs / "exercises" / "hoe.yaml").write_text(MODULE, encoding="utf-8")
    return dialogs


@pytest.fixture
async def bot(tmp_path: Path, settings: Settings) -> AsyncIterator[App]:
    dialogs = make_dialogs(tmp_path)
    locales = write_catalogs(dialogs, tmp_path / "locales")
    own = Settings(database_url=f"sqlite:///{tmp_path / 'u.db'}", dialogs_dir=dialogs, locales_dir=locales)
    app = await App.create(on_backend(own, settings))
    try:
        yield app
    finally:
        await app.close()


# -- helpers ----------------------------------------------------------------------------------------


def prompt_of(chat: Chat) -> Outbound:
    return next(m for m in reversed(chat.last) if m.choices)


def button_ids(chat: Chat) -> list[str]:
    return [c.id.split(".", 1)[1] for c in prompt_of(chat).choices]


async def pick(chat: Chat, item_id: str) -> list[Outbound]:
    return await chat.send(
        payload=next(c.id for c in prompt_of(chat).choices if c.id.endswith(f".{item_id}"))
    )


async def learner(app: App, address: str, language: int) -> Chat:
    """Onboarded (1 rw, 2 fr, 3 en) and on the module's first card."""
    chat = Chat(app, address=address)
    await chat.onboard(language=language)
    await pick(chat, "exercise")
    await pick(chat, "hoe")
    return chat


async def events(app: App, type_: str, address: str) -> list[dict]:
    sql = (
        "SELECT e.step_id, e.data FROM events e JOIN users u ON u.pseudonym = e.actor "
        "WHERE e.type = ? AND u.address = ? ORDER BY e.id"
    )
    async with app.db.conn.execute(sql, (type_, address)) as cur:
        rows = await cur.fetchall()
    return [{"step": r[0], **json.loads(r[1] or "{}")} for r in rows]


async def language_of(app: App, address: str) -> str:
    async with app.db.conn.execute("SELECT language FROM users WHERE address = ?", (address,)) as cur:
        row = await cur.fetchone()
    assert row is not None
    return str(row[0])


def ui(app: App, lang: str, msgid: str) -> str:
    """A UI string as the catalogs have it now (English until its translation is merged)."""
    return app.engine.catalogs.gettext(lang, msgid)


# -- the phrases ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "said",
    [
        "?",
        " ?? ",
        "？",
        "sinumva",
        "Sinumva!",
        "SINUMVISE",
        "simbyumva",
        "Ntabwo numvise",
        "je ne comprends pas",
        "Je comprends pas.",
        "pas compris",
        "J’ai pas compris",
        "what?",
        "I don't understand",
        "I don’t get it",
        "i dont understand",
    ],
)
def test_these_flag_a_message_as_unclear(said: str) -> None:
    assert unclear.Phrases.load().match(said)


@pytest.mark.parametrize(
    "said",
    [
        "",
        "   ",
        "...",
        "2",
        "I don't understand why he left",
        "Nkeneye isuka yanjye",
        "Je ne comprends pas pourquoi tu cries",
        "ndumva mbabaye",
    ],
)
def test_answers_are_not_flags(said: str) -> None:
    assert not unclear.Phrases.load().match(said)


def test_the_phrase_list_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "unclear.yaml"
    bad.write_text(yaml.safe_dump({"phrases": {"sw": ["sielewi"]}}), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown languages"):
        unclear.Phrases.load(bad)
    bad.write_text(yaml.safe_dump({"phrases": {"en": ["?!"]}}), encoding="utf-8")
    with pytest.raises(ValueError, match="only punctuation"):
        unclear.Phrases.load(bad)
    own = unclear.Phrases.load()
    assert all(own.by_lang[lang] for lang in ("rw", "fr", "en"))


# -- the content field ------------------------------------------------------------------------------


def test_simple_is_a_translatable_field_with_its_own_msgctxt(tmp_path: Path) -> None:
    dialogs = make_dialogs(tmp_path)
    content, _ = load_content(dialogs, Catalogs({}))
    d = content.get("hoe")
    assert d is not None
    texts = {(s, f): t for s, f, t in d.texts()}
    assert texts[("card", "simple")] == "Your neighbour has your hoe. It is a month now."
    assert texts[("ask", "simple")] == "You see your neighbour. What do you say?"
    assert ("write", "simple") not in texts
    # A missing translation of simpler words is a content error like any other text's.
    locales = write_catalogs(dialogs, tmp_path / "locales", leave_out="ask/simple")
    _, errors = load_content(dialogs, Catalogs.load(locales))
    assert sorted((e.step, e.field, e.lang) for e in errors) == [
        ("ask", "simple", "fr"),
        ("ask", "simple", "rw"),
    ]


# -- through the engine -----------------------------------------------------------------------------


async def test_in_kinyarwanda_simpler_words_then_another_language(bot: App) -> None:
    chat = await learner(bot, "rw-1", language=1)
    assert rw("card/text") in chat.texts
    seq = prompt_of(chat).choices[0].id.split(".")[0]

    # A card with simpler words: they come, with the same "Next" button (same prompt, same ids).
    await chat.send("Sinumva")
    assert rw("card/simple") in chat.texts and rw("card/text") not in chat.texts
    assert button_ids(chat) == ["next"] and prompt_of(chat).choices[0].id.startswith(f"{seq}.")
    await pick(chat, "next")
    shown = button_ids(chat)
    assert rw("ask/text") in chat.texts

    # A choice with simpler words: the same buttons in the same order under them; a tap counts.
    await chat.send("?")
    assert rw("ask/simple") in chat.texts and button_ids(chat) == shown
    await pick(chat, "need")
    assert (await events(bot, "choice", chat.address))[-1]["choice"] == "need"
    assert rw("write/text") in chat.texts

    # No simpler words for the free-text task: another language, offered in its own words.
    await chat.send("sinumvise")
    assert ui(bot, "rw", unclear.OFFER_TEXT) in chat.texts
    assert [c.label for c in prompt_of(chat).choices] == ["Français", "English"]
    await chat.tap("Français")
    assert fr("write/text") in chat.texts
    assert await language_of(bot, chat.address) == "rw"  # shown once; the setting is unchanged
    await chat.send("Nkeneye isuka yanjye, ndakwinginze.")
    assert rw("write/rubric.0.feedback") in chat.texts  # the answer counted, read in Kinyarwanda
    assert rw("check/text") in chat.texts

    flags = await events(bot, "unclear", chat.address)
    assert [(f["step"], f["context"], f["lang"]) for f in flags] == [
        ("card", "hoe/card/text", "rw"),
        ("ask", "hoe/ask/text", "rw"),
        ("write", "hoe/write/text", "rw"),
    ]
    assert set(flags[0]) == {"step", "context", "lang"}


async def test_in_french_another_language_with_the_options_numbered_as_shown(bot: App) -> None:
    chat = await learner(bot, "fr-1", language=2)
    await pick(chat, "next")
    await pick(chat, "quiet")
    await chat.send("J'ai besoin de ma houe, s'il te plaît.")
    assert fr("check/text") in chat.texts
    shown = button_ids(chat)

    # A question without simpler words: the offer at once.
    await chat.send("je comprends pas")
    assert ui(bot, "fr", unclear.OFFER_TEXT) in chat.texts
    assert [c.label for c in prompt_of(chat).choices] == ["Ikinyarwanda", "English"]
    await chat.send("?")  # still unclear: the offer again, not logged twice
    assert [c.label for c in prompt_of(chat).choices] == ["Ikinyarwanda", "English"]
    await chat.tap("Ikinyarwanda")
    text = prompt_of(chat).text
    assert rw("check/text") in text
    labels = [rw(f"check/options.{o}.label") for o in shown]
    assert [f"{n}. {label}" for n, label in enumerate(labels, 1)] == [
        line for line in text.splitlines() if re.match(r"^\d\. ", line)
    ]
    assert button_ids(chat) == shown  # the step's buttons again, in the learner's own order
    assert [c.label for c in prompt_of(chat).choices] == [fr(f"check/options.{o}.label") for o in shown]
    assert await language_of(bot, chat.address) == "fr"

    # A typed number picks the option shown at that place.
    await chat.send("2")
    answers = await events(bot, "quiz_answer", chat.address)
    assert answers[-1]["step"] == "check" and answers[-1]["option"] == shown[1]
    assert fr("end/text") in chat.texts

    flags = await events(bot, "unclear", chat.address)
    assert [(f["context"], f["lang"]) for f in flags] == [("hoe/check/text", "fr")]
    picked = await events(bot, "unclear_language", chat.address)
    assert [(p["step"], p["lang"]) for p in picked] == [("check", "rw")]


async def test_asked_twice_the_simpler_words_then_the_languages(bot: App) -> None:
    chat = await learner(bot, "fr-2", language=2)
    await pick(chat, "next")
    await chat.send("pas compris")
    assert fr("ask/simple") in chat.texts
    await chat.send("Je ne comprends pas.")
    assert [c.label for c in prompt_of(chat).choices] == ["Ikinyarwanda", "English"]
    # An answer typed instead of a language is taken by the step itself.
    await chat.send(fr("ask/choices.blame.label"))
    assert (await events(bot, "choice", chat.address))[-1]["choice"] == "blame"
    assert fr("angry/text") in chat.texts
    assert len(await events(bot, "unclear", chat.address)) == 2


async def test_outside_a_content_step_a_question_mark_is_what_it_was(bot: App) -> None:
    chat = Chat(bot, address="menu-1")
    await chat.onboard(language=1)
    menu = button_ids(chat)
    await chat.send("?")
    assert button_ids(chat) == menu  # the main menu again, as before
    assert ui(bot, "rw", unclear.OFFER_TEXT) not in chat.texts
    assert await events(bot, "unclear", chat.address) == []


# -- the dashboard's work queue ---------------------------------------------------------------------


async def login(web: httpx.AsyncClient, username: str) -> httpx.Response:
    form = await web.get("/dashboard/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    return await web.post(
        "/dashboard/login", data={"csrf": csrf.group(1), "username": username, "password": PASSWORD}
    )


def rows_of(page: str) -> list[list[str]]:
    """The table's rows, each cell as text."""
    body = page.split('<section id="unclear">', 1)[1]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.DOTALL)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)
        if "<td>" in row
    ]


async def test_the_dashboard_lists_the_most_flagged_texts_for_staff_only(bot: App) -> None:
    async with bot.db.transaction() as conn:
        await add_account(conn, "staff", PASSWORD, None, utcnow())
        await add_account(conn, "keza", PASSWORD, [], utcnow())
    # The question: flagged by two rw learners and a fr one; the card by one rw learner.
    for n, language in enumerate((1, 1, 2)):
        chat = await learner(bot, f"flagger-{n}", language)
        if n == 0:
            await chat.send("sinumva")
        await pick(chat, "next")
        await chat.send("?" if language == 1 else "pas compris")
    transport = httpx.ASGITransport(app=build_web(bot))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as web:
        assert (await web.get("/dashboard/unclear")).headers["location"] == "/dashboard/login"
        assert (await login(web, "keza")).status_code == 303
        assert (await web.get("/dashboard/unclear")).status_code == 403  # a facilitator: not theirs
        await web.post("/dashboard/logout", data={"csrf": ""})
        web.cookies.clear()
        assert (await login(web, "staff")).status_code == 303
        page = await web.get("/dashboard/unclear")
        assert page.status_code == 200
        assert "Content-Security-Policy" in page.headers
        rows = rows_of(page.text)
        assert [r[1:5] for r in rows] == [
            ["hoe/ask/text", "You meet your neighbour at the market. What do you say first?", "3", "3"],
            [
                "hoe/card/text",
                "Your neighbour borrowed your hoe a month ago and has not brought it back.",
                "1",
                "1",
            ],
        ]
        assert rows[0][5] == "Kinyarwanda 2, Français 1" and rows[1][5] == "Kinyarwanda 1"
        assert rows[0][0] == "The borrowed hoe"

        # One language's queue: its flags only, and how the text reads now in that language.
        page = await web.get("/dashboard/unclear?language=fr")
        rows = rows_of(page.text)
        assert [(r[1], r[3], r[4]) for r in rows] == [
            ("hoe/ask/text", fr("ask/text").replace("'", "&#39;"), "1")
        ]
        for address in ("flagger-0", "flagger-1", "flagger-2"):
            assert address not in page.text
