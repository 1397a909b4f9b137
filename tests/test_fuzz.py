"""Whatever a user types, the engine answers and never raises."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App
from bot.messages import Inbound

counter = itertools.count()

inbound_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
    st.sampled_from(
        [
            "1",
            "２",
            " 3 ",
            "menu",
            "ururimi",
            "langue",
            "/start",
            "/start club_X",
            "stop",
            "aide",
            "Next ▶",
            "مرحبا",
            "\u202eevil",
            "\x00\x1b[2J",
            "🤝" * 400,
        ]
    ),
    st.integers(min_value=-5, max_value=20).map(str),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(inbound_text, min_size=1, max_size=6), tap=st.booleans())
async def test_any_text_gets_a_reply_and_no_exception(app: App, texts: list[str], tap: bool) -> None:
    address = f"fuzz-{next(counter)}"
    last_choices: tuple = ()
    for text in texts:
        payload = last_choices[0].id if tap and last_choices else None
        replies = await app.engine.handle(
            Inbound(
                "console",
                address,
                text=None if payload else text,
                payload=payload,
                external_id=str(next(counter)),
            )
        )
        assert replies, f"no reply to {text!r}"
        assert all(m.text for m in replies)
        last_choices = next((m.choices for m in reversed(replies) if m.choices), ())
