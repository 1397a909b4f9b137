"""Learning gain: a lesson's or quiz's `pretest` items, asked before its content and again at its
end. Their answers are events (`pretest`, phase "pre" or "post") and never count in the score,
so the gain per module is the mean of post minus pre over the same learners and items.

The state lives in the run: `run["gain"] = {"phase": ..., "queue": [...], "end": ...}`, where
phase is "pre" (asking before), "content" (the module itself), "post" (asking again) or "done".
"""

from __future__ import annotations

from typing import Any

from bot.content.models import Dialog

PRE, CONTENT, POST, DONE = "pre", "content", "post", "done"


def begin(run: dict[str, Any], d: Dialog) -> str | None:
    """The first pre-test item, or None when the module has no pretest."""
    if not d.pretest:
        return None
    run["gain"] = {"phase": PRE, "queue": list(d.pretest[1:])}
    return d.pretest[0]


def asking(run: dict[str, Any]) -> str | None:
    """PRE or POST while a pre-test item is being asked, else None."""
    phase = (run.get("gain") or {}).get("phase")
    return phase if phase in (PRE, POST) else None


def next_item(run: dict[str, Any]) -> str | None:
    queue: list[str] = run["gain"]["queue"]
    return queue.pop(0) if queue else None


def content_begins(run: dict[str, Any]) -> None:
    run["gain"]["phase"] = CONTENT


def begin_post(run: dict[str, Any], d: Dialog, end_step: str) -> str | None:
    """At the module's end: the first item to ask again, or None when it is already asked
    (or there is no pretest). `end_step` is remembered to close the module after."""
    g = run.get("gain")
    if not g or g["phase"] != CONTENT:
        return None
    g.update(phase=POST, queue=list(d.pretest[1:]), end=end_step)
    return d.pretest[0]


def finished(run: dict[str, Any]) -> str:
    """The end step the post-test interrupted."""
    g = run["gain"]
    g["phase"] = DONE
    return str(g["end"])
