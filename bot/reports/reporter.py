"""The reporter's conversation: what, when, where, what happened, who is affected, are you safe,
who may see it; then a summary to confirm or correct, and a reference number.

Every step has buttons and a way back. The draft lives in the dialog state (`data["report"]`)
until it is filed, so a restart resumes it. A shared location becomes an area at once and the
coordinates are never kept. A quick exit drops the draft and erases the conversation from the
chat where the channel can.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.care import chat as care
from bot.care.safeguarding import Safeguarding, Severity
from bot.core.intents import normalise
from bot.core.turn import Turn
from bot.i18n import N_, format_date
from bot.messages import Choice, Outbound
from bot.reports import model, notify
from bot.reports.config import TYPE_CONTEXT, Country, EarlyWarning
from bot.reports.model import Draft

PAGE = 7  # areas per page: with "More", "Back" and "Exit", ten rows, WhatsApp's longest list

PEOPLE = {
    "none": N_("Nobody"),
    "1_5": N_("1 to 5 people"),
    "6_20": N_("6 to 20 people"),
    "21p": N_("More than 20"),
    "unknown": N_("I don't know"),
}
PARTS = {
    "type": N_("What happened (type)"),
    "when": N_("When"),
    "where": N_("Where"),
    "text": N_("The description"),
    "people": N_("People affected"),
    "safe": N_("Your safety"),
    "share": N_("Who may see it"),
}
# A chat's messages older than this cannot be deleted by a bot (Telegram).
ERASE_WINDOW = timedelta(hours=48)


def ew(turn: Turn) -> EarlyWarning:
    return turn.service(EarlyWarning)


def draft_of(turn: Turn) -> Draft:
    return Draft.from_dict(turn.data.get("report"))


def keep(turn: Turn, draft: Draft) -> None:
    ref = turn.inbound.message_ref if turn.inbound is not None else None
    if ref:  # the chat's range of this conversation, for a quick exit
        draft.conversation.setdefault("from", ref)
        draft.conversation["to"] = ref
    turn.data["report"] = draft.to_dict()


def type_label(turn: Turn, type_id: str) -> str:
    found = ew(turn).type(type_id)
    if found is None:
        return type_id
    return turn.catalogs.gettext(turn.lang, found.label, TYPE_CONTEXT)


def back(turn: Turn) -> Choice:
    return Choice("back", turn._("◀ Back"))


def leave(turn: Turn) -> Choice:
    return Choice("exit", turn._("✖ Exit and erase"))


# -- the steps ---------------------------------------------------------------------------


async def start(turn: Turn) -> None:
    draft = Draft()
    keep(turn, draft)
    turn.event("report_started")
    turn.say(
        turn._(
            "Thank you for reporting. Your name and number are never shown to the committee. "
            "You can go back at any step, or exit and erase this conversation."
        )
    )
    ask_type(turn)


def ask_type(turn: Turn) -> None:
    choices = [Choice(t.id, type_label(turn, t.id)) for t in ew(turn).types]
    turn.ask(turn._("What do you want to report?"), "report_type", [*choices, leave(turn)])


def ask_when(turn: Turn) -> None:
    _ = turn._
    turn.ask(
        _("When did it happen?"),
        "report_when",
        [
            Choice("now", _("It is happening now")),
            Choice("today", _("Today")),
            Choice("yesterday", _("Yesterday")),
            Choice("date", _("Another day")),
            back(turn),
            leave(turn),
        ],
    )


def ask_date(turn: Turn, note: str | None = None) -> None:
    text = turn._("Which day? Write the date, for example 25/11.")
    turn.ask(f"{note}\n\n{text}" if note else text, "report_date", [back(turn), leave(turn)])


def ask_country(turn: Turn) -> None:
    choices = [Choice(c.code, c.names.get(turn.lang, c.names["en"])) for c in ew(turn).countries]
    turn.ask(turn._("In which country?"), "report_country", [*choices, back(turn), leave(turn)])


def _country(turn: Turn, draft: Draft) -> Country:
    found = ew(turn).country(draft.country or "") if draft.country else None
    return found or ew(turn).countries[0]


def ask_area1(turn: Turn, draft: Draft, page: int = 0, note: str | None = None) -> None:
    country = _country(turn, draft)
    names = [a.name for a in country.areas]
    turn.data["report_page"] = page
    level = country.level1.get(turn.lang, country.level1["en"])
    text = turn._("Where did it happen? Choose the {level}, write its name, or share your location.").format(
        level=level.lower()
    )
    _ask_page(turn, "report_area1", f"{note}\n\n{text}" if note else text, names, page)


def ask_area2(turn: Turn, draft: Draft, page: int = 0, note: str | None = None) -> None:
    country = _country(turn, draft)
    area = country.area(draft.area1 or "")
    names = list(area.children) if area else []
    turn.data["report_page"] = page
    level = country.level2.get(turn.lang, country.level2["en"])
    text = turn._("In {area}: which {level}? Choose it or write its name.").format(
        area=draft.area1, level=level.lower()
    )
    _ask_page(turn, "report_area2", f"{note}\n\n{text}" if note else text, names, page)


def _ask_page(turn: Turn, screen: str, text: str, names: list[str], page: int) -> None:
    shown = names[page * PAGE : (page + 1) * PAGE]
    choices = [Choice(f"a{page * PAGE + i}", name) for i, name in enumerate(shown)]
    if (page + 1) * PAGE < len(names):
        choices.append(Choice("more", turn._("More ▶")))
    turn.ask(text, screen, [*choices, back(turn), leave(turn)])


def ask_text(turn: Turn, note: str | None = None) -> None:
    text = turn._(
        "What happened? Write it in your own words: what you saw or heard, and who was involved. "
        "You can also send photos; they are kept private and never forwarded."
    )
    turn.ask(f"{note}\n\n{text}" if note else text, "report_text", [back(turn), leave(turn)])


def ask_people(turn: Turn) -> None:
    choices = [Choice(k, turn._(v)) for k, v in PEOPLE.items()]
    turn.ask(
        turn._("How many people are affected or at risk?"),
        "report_people",
        [*choices, back(turn), leave(turn)],
    )


def ask_safe(turn: Turn) -> None:
    _ = turn._
    turn.ask(
        _("Are you safe right now?"),
        "report_safe",
        [Choice("yes", _("Yes, I am safe")), Choice("no", _("No, I am not safe")), back(turn), leave(turn)],
    )


def ask_share(turn: Turn) -> None:
    _ = turn._
    turn.ask(
        _(
            "Who may see this report? The committee may pass it on to people who can act, such as "
            "local leaders or a peace organisation. You can say no."
        ),
        "report_share",
        [
            Choice("partners", _("The committee, and people who can act")),
            Choice("committee", _("Only the committee")),
            back(turn),
            leave(turn),
        ],
    )


def summary(turn: Turn, draft: Draft) -> str:
    _ = turn._
    when = _("now") if draft.ongoing else _day(turn, draft.happened_on or "")
    where = ", ".join(p for p in (draft.area2, draft.area1) if p)
    text = (draft.text or "").strip()
    lines = [
        _("Your report:"),
        _("What: {type}").format(type=type_label(turn, draft.type or "")),
        _("When: {when}").format(when=when),
        _("Where: {where}").format(where=where),
        _("What happened: {text}").format(text=text if len(text) <= 300 else text[:300] + "…"),
    ]
    if draft.photos:
        lines.append(turn.ngettext("{n} photo", "{n} photos", len(draft.photos)).format(n=len(draft.photos)))
    lines += [
        _("People affected: {people}").format(
            people=_(PEOPLE.get(draft.people or "unknown", PEOPLE["unknown"]))
        ),
        _("You are safe: {answer}").format(answer=_("yes") if draft.safe else _("no")),
        _("Who may see it: {who}").format(
            who=_("only the committee")
            if draft.committee_only
            else _("the committee, and people who can act")
        ),
    ]
    return "\n".join(lines)


def _day(turn: Turn, iso_day: str) -> str:
    try:
        day = date.fromisoformat(iso_day)
    except ValueError:
        return iso_day
    return format_date(
        datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(turn.timezone)), turn.lang, turn.timezone
    )


def ask_confirm(turn: Turn, draft: Draft) -> None:
    _ = turn._
    turn.data.pop("report_editing", None)
    turn.ask(
        summary(turn, draft) + "\n\n" + _("Is this right?"),
        "report_confirm",
        [
            Choice("file", _("✅ Send the report")),
            Choice("change", _("✏ Change something")),
            leave(turn),
        ],
    )


def ask_change(turn: Turn) -> None:
    choices = [Choice(k, turn._(v)) for k, v in PARTS.items()]
    turn.ask(turn._("What do you want to change?"), "report_change", [*choices, back(turn), leave(turn)])


# -- answers ------------------------------------------------------------------------------


async def answer(turn: Turn, screen: str, text: str | None, choice: Choice | None) -> bool:
    """One answer on a report screen. False: not understood, ask again."""
    draft = draft_of(turn)
    if choice is not None and choice.id == "exit":
        await quick_exit(turn, draft)
        return True
    handler = STEPS.get(screen)
    if handler is None:
        return False
    return await handler(turn, draft, text, choice)


async def _type(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    if choice is None or ew(turn).type(choice.id) is None:
        return False
    draft.type = choice.id
    keep(turn, draft)
    _next(turn, draft, ask_when)
    return True


async def _when(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    if choice is None:
        return False
    if choice.id == "back":
        ask_type(turn)
        return True
    today = turn.now.astimezone(ZoneInfo(turn.timezone)).date()
    if choice.id == "date":
        ask_date(turn)
        return True
    draft.ongoing = choice.id == "now"
    draft.happened_on = (today - timedelta(days=1 if choice.id == "yesterday" else 0)).isoformat()
    keep(turn, draft)
    _next(turn, draft, lambda t: _ask_where(t, draft))
    return True


DATE = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})(?:\s*[/.\-]\s*(\d{2,4}))?\s*$")
ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")


def parse_day(text: str, today: date) -> date | None:
    """25/11, 25.11.2026, 25-11-26 or 2026-11-25 (day first, as in Rwanda and Burundi)."""
    try:
        if m := ISO_DATE.match(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := DATE.match(text):
            year = int(m[3]) if m[3] else today.year
            year = year + 2000 if year < 100 else year
            day = date(year, int(m[2]), int(m[1]))
            if not m[3] and day > today:  # "25/12" written in January means last December
                day = date(year - 1, day.month, day.day)
            return day
    except ValueError:
        return None
    return None


async def _date(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    if choice is not None and choice.id == "back":
        ask_when(turn)
        return True
    today = turn.now.astimezone(ZoneInfo(turn.timezone)).date()
    day = parse_day(text or "", today)
    if day is None:
        ask_date(turn, turn._("I could not read that date."))
        return True
    if day > today:
        ask_date(turn, turn._("That day is still to come. Which day did it happen?"))
        return True
    if day < today - timedelta(days=366):
        ask_date(turn, turn._("That is more than a year ago. Please report what happened in the last year."))
        return True
    draft.happened_on, draft.ongoing = day.isoformat(), False
    keep(turn, draft)
    _next(turn, draft, lambda t: _ask_where(t, draft))
    return True


def _ask_where(turn: Turn, draft: Draft) -> None:
    if len(ew(turn).countries) > 1:
        ask_country(turn)
    else:
        draft.country = ew(turn).countries[0].code
        keep(turn, draft)
        ask_area1(turn, draft)


async def _country_answer(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    if await _located(turn, draft):
        return True
    if choice is None:
        return False
    if choice.id == "back":
        ask_when(turn)
        return True
    draft.country = choice.id
    keep(turn, draft)
    ask_area1(turn, draft)
    return True


async def _located(turn: Turn, draft: Draft) -> bool:
    """A shared location answers "where" down to the district or province; the coordinates
    are dropped here, and the reporter picks the sector or commune."""
    location = turn.inbound.location if turn.inbound is not None else None
    if location is None:
        return False
    country, area = ew(turn).nearest(*location)
    draft.country, draft.area1, draft.area2 = country.code, area.name, None
    keep(turn, draft)
    turn.event("report_location_reduced")
    note = turn._("Thank you. Your location is in {area}; only that name is kept, not the location.").format(
        area=area.name
    )
    ask_area2(turn, draft, note=note)
    return True


def _typed_area(text: str | None, names: list[str]) -> str | None:
    said = normalise(text or "")
    if len(said) < 3:
        return None
    exact = [n for n in names if normalise(n) == said]
    starts = [n for n in names if normalise(n).startswith(said)]
    found = exact or starts
    return found[0] if len(found) == 1 or exact else None


async def _area1(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    if await _located(turn, draft):
        return True
    country = _country(turn, draft)
    names = [a.name for a in country.areas]
    page = int(turn.data.get("report_page") or 0)
    if choice is not None and choice.id == "back":
        if page:
            ask_area1(turn, draft, page - 1)
        elif len(ew(turn).countries) > 1:
            ask_country(turn)
        else:
            ask_when(turn)
        return True
    if choice is not None and choice.id == "more":
        ask_area1(turn, draft, page + 1)
        return True
    name = _picked(choice, names) or _typed_area(text, names)
    if name is None:
        if text:
            ask_area1(
                turn, draft, page, turn._("I do not know that place. Choose from the list or write its name.")
            )
            return True
        return False
    draft.area1, draft.area2 = name, None
    keep(turn, draft)
    ask_area2(turn, draft)
    return True


async def _area2(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    country = _country(turn, draft)
    area = country.area(draft.area1 or "")
    names = list(area.children) if area else []
    page = int(turn.data.get("report_page") or 0)
    if choice is not None and choice.id == "back":
        if page:
            ask_area2(turn, draft, page - 1)
        else:
            ask_area1(turn, draft)
        return True
    if choice is not None and choice.id == "more":
        ask_area2(turn, draft, page + 1)
        return True
    name = _picked(choice, names) or _typed_area(text, names)
    if name is None:
        if text:
            ask_area2(
                turn, draft, page, turn._("I do not know that place. Choose from the list or write its name.")
            )
            return True
        return False
    draft.area2 = name
    keep(turn, draft)
    _next(turn, draft, ask_text)
    return True


def _picked(choice: Choice | None, names: list[str]) -> str | None:
    if choice is None or not choice.id.startswith("a") or not choice.id[1:].isdigit():
        return None
    index = int(choice.id[1:])
    return names[index] if 0 <= index < len(names) else None


async def _text(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    if choice is not None and choice.id == "back":
        ask_area2(turn, draft)
        return True
    media = turn.inbound.media if turn.inbound is not None else ()
    draft.photos = [*draft.photos, *media][:10]
    written = (text or "").strip()
    if not written:
        keep(turn, draft)
        if media:
            ask_text(turn, turn._("Photo kept. Now write in a few words what happened."))
            return True
        return False
    if len(written) < 3:
        ask_text(turn, turn._("Please write a few words about what happened."))
        return True
    draft.text = written
    severity = turn.service(Safeguarding).assess(written)
    if severity is Severity.IMMEDIATE and not draft.danger:
        draft.danger = True
        keep(turn, draft)
        turn.say(turn._("If anyone is in danger now, call for help at once.") + "\n\n" + care.helplines(turn))
        await alert_committee(turn, draft, N_("someone may be in danger now"))
    keep(turn, draft)
    _next(turn, draft, ask_people)
    return True


async def _people(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    if choice is None:
        return False
    if choice.id == "back":
        ask_text(turn)
        return True
    if choice.id not in PEOPLE:
        return False
    draft.people = choice.id
    keep(turn, draft)
    _next(turn, draft, ask_safe)
    return True


async def _safe(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    if choice is None:
        return False
    if choice.id == "back":
        ask_people(turn)
        return True
    draft.safe = choice.id == "yes"
    keep(turn, draft)
    if not draft.safe:
        # The safeguarding path: helplines at once, a person alerted, and the committee on duty.
        turn.say(
            turn._("Please go somewhere safe if you can. Your safety matters more than this report.")
            + "\n\n"
            + care.helplines(turn)
        )
        await care.escalate(turn, Severity.IMMEDIATE, "report_unsafe", None)
        await alert_committee(turn, draft, N_("the reporter is not safe"))
        turn.say(turn._("I have asked a person to contact you. Let us finish the report quickly."))
    _next(turn, draft, ask_share)
    return True


async def _share(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    if choice is None:
        return False
    if choice.id == "back":
        ask_safe(turn)
        return True
    draft.committee_only = choice.id == "committee"
    keep(turn, draft)
    ask_confirm(turn, draft)
    return True


async def _confirm(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    if choice is None:
        return False
    if choice.id == "change":
        ask_change(turn)
        return True
    if choice.id != "file":
        return False
    await file(turn, draft)
    return True


async def _change(turn: Turn, draft: Draft, text: str | None, choice: Choice | None) -> bool:
    if choice is None:
        return False
    if choice.id == "back":
        ask_confirm(turn, draft)
        return True
    turn.data["report_editing"] = True
    {
        "type": ask_type,
        "when": ask_when,
        "where": lambda t: _ask_where(t, draft),
        "text": ask_text,
        "people": ask_people,
        "safe": ask_safe,
        "share": ask_share,
    }[choice.id](turn)
    return True


def _next(turn: Turn, draft: Draft, ask: object) -> None:
    """The next step, or back to the summary when the reporter is correcting one part."""
    if turn.data.get("report_editing"):
        ask_confirm(turn, draft)
    else:
        ask(turn)  # type: ignore[operator]


STEPS = {
    "report_type": _type,
    "report_when": _when,
    "report_date": _date,
    "report_country": _country_answer,
    "report_area1": _area1,
    "report_area2": _area2,
    "report_text": _text,
    "report_people": _people,
    "report_safe": _safe,
    "report_share": _share,
    "report_confirm": _confirm,
    "report_change": _change,
}


# -- filing, alerts, leaving ------------------------------------------------------------------


async def file(turn: Turn, draft: Draft) -> None:
    reporter_id, _code = await model.reporter_code(turn.conn, turn.user.id, turn.now)
    report = await model.file_report(turn.conn, draft, reporter_id, turn.user.channel, turn.lang, turn.now)
    drop_draft(turn)
    turn.event("report_filed", type=report.type, danger=report.danger)
    if report.danger and not draft.alerted:
        await alert_committee(turn, draft, N_("someone may be in danger now"), report.ref)
    elif report.danger:
        await notify.alert(turn, report, N_("the report is now filed"))
    await turn.home(
        turn._(
            "Thank you. Your report is filed. Its reference is {ref}. The committee will review it, and "
            "I will tell you each time its status changes. Send my reports to see your reports."
        ).format(ref=report.ref)
    )


async def alert_committee(turn: Turn, draft: Draft, why: str, ref: str | None = None) -> None:
    draft.alerted = True
    keep(turn, draft)
    await notify.alert_draft(turn, draft, why, ref)


async def quick_exit(turn: Turn, draft: Draft | None) -> None:
    """Drop the draft and erase this conversation from the chat, then a neutral word."""
    drop_draft(turn)
    ranges = [draft.conversation] if draft is not None and draft.conversation else []
    erase(turn, ranges)
    turn.event("report_exit")
    await turn.home(turn._("Done."))


def drop_draft(turn: Turn) -> None:
    for key in ("report", "report_page", "report_editing"):
        turn.data.pop(key, None)


def erase(turn: Turn, ranges: list[dict[str, str]]) -> None:
    """Ask the channel to delete each range of this chat's messages, up to this very message."""
    current = turn.inbound.message_ref if turn.inbound is not None else None
    for span in ranges:
        first = span.get("from")
        if not first:
            continue
        created = span.get("created_at")
        if created and datetime.fromisoformat(created) < turn.now - ERASE_WINDOW:
            continue  # too old for the channel to delete
        last = current or span.get("to") or first
        turn.out.append(
            Outbound(
                turn.user.channel,
                turn.user.address,
                "",
                language=turn.lang,
                user_id=turn.user.id,
                erase=(first, last),
            )
        )
