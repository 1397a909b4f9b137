"""The dialog runner: a state machine over one dialog's steps.

`start` enters a dialog, `advance` walks say-steps until a step needs the learner,
`answer` takes their input at that step, and `finish` scores and records it.
State between messages lives in `DialogState` (step id + `data["run"]`).
"""

from __future__ import annotations

from bot.care.safeguarding import Safeguarding
from bot.content.models import ChoicesStep, Dialog, EndStep, FreeTextStep, QuestionStep, RouteStep, SayStep
from bot.core.intents import match_choice, normalise
from bot.core.turn import Turn
from bot.learning import achievements, gain, recall, rubric, screens
from bot.learning import queries as learning_queries
from bot.learning.shuffle import shown_order
from bot.messages import Choice

MAX_AUTO_STEPS = 50  # say-steps walked in one go; content validation already forbids cycles without input


def _t(turn: Turn, d: Dialog, step_id: str, field: str, source: str) -> str:
    return turn.content_text(d.id, step_id, field, source)


async def start(turn: Turn, d: Dialog) -> None:
    turn.state.dialog_id = d.id
    run = turn.data["run"] = {"score": 0, "correct": 0, "asked": 0, "missed": []}
    if turn.user.may_keep_progress:
        await learning_queries.start_module(turn.conn, turn.user.id, d.id, turn.now)
    turn.event("module_started", d.id)
    first = gain.begin(run, d)
    if first is not None:
        turn.say(
            turn.ngettext(
                "First, {n} quick question to see what you already know. It does not count in your score.",
                "First, {n} quick questions to see what you already know. They do not count in your score.",
                len(d.pretest),
            ).format(n=len(d.pretest))
        )
        await advance(turn, d, first)
        return
    await advance(turn, d, d.first_step)


async def advance(turn: Turn, d: Dialog, step_id: str) -> None:
    run = turn.data.get("run", {})
    for _ in range(MAX_AUTO_STEPS):
        step = d.step(step_id)
        turn.state.step_id = step.id
        if isinstance(step, SayStep):
            text = _t(turn, d, step.id, "text", step.text)
            if step.pause:
                turn.ask(text, "dialog", [Choice("next", turn._("Next ▶"))], image=step.image)
                return
            turn.say(text, image=step.image)
            step_id = step.next
            continue
        if isinstance(step, RouteStep):
            step_id = step.pick(run.get("score", 0))
            continue
        if isinstance(step, EndStep):
            again = gain.begin_post(run, d, step.id)
            if again is not None:
                turn.say(turn._("Before the end: the questions from the start, once more."))
                step_id = again
                continue
            await _end(turn, d, step)
            return
        prompt(turn, d)
        return
    raise RuntimeError(f"{d.id}: more than {MAX_AUTO_STEPS} steps without input from step {step_id}")


def resume(turn: Turn, d: Dialog) -> None:
    """Back in a module (from the menu, after a pause or a change of language): the scene that
    leads to the question first, then the question, so it is never asked out of context."""
    current = turn.state.step_id or d.first_step
    scene: list[SayStep] = []
    while len(scene) < 2:  # the one or two say steps right before it, not the whole module
        before = next(
            (s for s in d.steps if isinstance(s, SayStep) and s.next == current and not s.pause), None
        )
        if before is None:
            break
        scene.insert(0, before)
        current = before.id
    for step in scene:
        turn.say(_t(turn, d, step.id, "text", step.text), image=step.image)
    prompt(turn, d)


def prompt(turn: Turn, d: Dialog, new_prompt: bool = True, text: str | None = None) -> None:
    """(Re)send the question of the current step (with `text`, the same buttons under other words)."""
    step = d.step(turn.state.step_id or d.first_step)
    if isinstance(step, EndStep | RouteStep):  # never waited on; show the menu instead
        turn.state.dialog_id = turn.state.step_id = None
        return
    text = text or _t(turn, d, step.id, "text", step.text)
    # Typed numbers ("2") resolve against what `ask` offered, so they follow this shown order.
    if isinstance(step, ChoicesStep):
        labels = [
            Choice(c.id, _t(turn, d, step.id, f"choices.{c.id}.label", c.label))
            for c in shown_order(step.choices, turn.user.id, d.id, step.id)
        ]
        turn.ask(text, "dialog", labels, new_prompt=new_prompt)
    elif isinstance(step, QuestionStep):
        labels = [
            Choice(o.id, _t(turn, d, step.id, f"options.{o.id}.label", o.label))
            for o in shown_order(step.options, turn.user.id, d.id, step.id)
        ]
        turn.ask(text, "dialog", labels, new_prompt=new_prompt)
    elif isinstance(step, FreeTextStep):
        turn.ask(text, "dialog", [], new_prompt=new_prompt)
    else:
        turn.ask(text, "dialog", [Choice("next", turn._("Next ▶"))], image=step.image, new_prompt=new_prompt)


async def answer(turn: Turn, d: Dialog, text: str | None, choice: Choice | None) -> bool:
    """Apply the learner's input to the current step. False if it did not fit."""
    step = d.step(turn.state.step_id or d.first_step)
    run = turn.data.setdefault("run", {"score": 0, "correct": 0, "asked": 0, "missed": []})
    if isinstance(step, FreeTextStep):
        if choice is not None or not text or not normalise(text):
            return False
        if turn.service(Safeguarding).is_hateful(text):
            # Never echoed anywhere; the facilitator sees that it happened, not what was said.
            turn.event("hate_flag", d.id, step.id)
            turn.say(
                turn._(
                    "Words that hurt a whole group of people close the door to dialogue. "
                    "Try again: say what you feel and what you need, without labelling anyone."
                )
            )
            prompt(turn, d, new_prompt=False)
            return True
        await _free_text(turn, d, step, text)
        await advance(turn, d, step.next)
        return True
    if choice is None and text is not None:
        choice = match_choice(text, turn.offered())
    if choice is None:
        return False
    if isinstance(step, SayStep):
        await advance(turn, d, step.next)
    elif isinstance(step, ChoicesStep):
        picked = next(c for c in step.choices if c.id == choice.id)
        run["score"] += picked.score
        turn.event("choice", d.id, step.id, choice=picked.id, score=picked.score)
        if picked.feedback:
            turn.say(_t(turn, d, step.id, f"choices.{picked.id}.feedback", picked.feedback))
        await advance(turn, d, picked.next)
    elif isinstance(step, QuestionStep):
        await _question(turn, d, step, choice.id, run)
    return True


async def _free_text(turn: Turn, d: Dialog, step: FreeTextStep, text: str) -> None:
    hits = rubric.hits(step, turn.lang, text)
    if turn.user.may_keep_progress:
        await learning_queries.add_reflection(turn.conn, turn.user.id, d.id, step.id, text, turn.now)
    turn.event("free_text", d.id, step.id, rubric_hits=hits, length=len(text))
    feedback = [_t(turn, d, step.id, f"rubric.{i}.feedback", step.rubric[i].feedback) for i in hits]
    if not feedback and step.fallback_feedback:
        feedback = [_t(turn, d, step.id, "fallback_feedback", step.fallback_feedback)]
    if not feedback:
        feedback = [turn._("Thank you for writing that. Your words are saved as your own reflection.")]
    turn.say("\n\n".join(feedback))
    if step.model_answer:
        model = _t(turn, d, step.id, "model_answer", step.model_answer)
        turn.say(turn._("One way to say it: {answer}").format(answer=model))


async def _question(turn: Turn, d: Dialog, step: QuestionStep, option_id: str, run: dict) -> None:
    option = next(o for o in step.options if o.id == option_id)
    right = option.id == step.correct
    phase = gain.asking(run)
    if phase is not None:
        await _pretest_answer(turn, d, step, option.id, right, phase, run)
        return
    retrying = "retry" in run
    if not retrying:
        run["asked"] += 1
        run["correct"] += right
        if not right:
            run["missed"].append(step.id)
    else:
        run["retry_correct"] = run.get("retry_correct", 0) + right
        if not right:
            run.setdefault("still_missed", []).append(step.id)
    turn.event("quiz_answer", d.id, step.id, option=option.id, correct=right, retry=retrying)
    _verdict(turn, d, step, option.id, right)
    if retrying:
        queue: list[str] = run["retry"]
        if queue:
            await advance(turn, d, queue.pop(0))
        else:
            await _finish_retry(turn, d, run)
        return
    await advance(turn, d, step.next)


def _verdict(turn: Turn, d: Dialog, step: QuestionStep, option_id: str, right: bool) -> None:
    option = next(o for o in step.options if o.id == option_id)
    explanation = _t(turn, d, step.id, f"options.{option.id}.explanation", option.explanation)
    if right:
        turn.say(turn._("✅ Right! {explanation}").format(explanation=explanation))
    else:
        good = next(o for o in step.options if o.id == step.correct)
        good_label = _t(turn, d, step.id, f"options.{good.id}.label", good.label)
        turn.say(
            turn._("❌ Not quite. {explanation}\nThe best answer: {answer}").format(
                explanation=explanation, answer=good_label
            )
        )


async def _pretest_answer(
    turn: Turn, d: Dialog, step: QuestionStep, option_id: str, right: bool, phase: str, run: dict
) -> None:
    """A pre-test answer: recorded for the gain, never scored. Before the content the answer is
    not revealed (the module teaches it); at the end it is, like any question."""
    turn.event("pretest", d.id, step.id, phase=phase, option=option_id, correct=right)
    if phase == gain.POST:
        _verdict(turn, d, step, option_id, right)
    following = gain.next_item(run)
    if following is not None:
        await advance(turn, d, following)
    elif phase == gain.PRE:
        gain.content_begins(run)
        turn.say(turn._("Thank you. Now let us begin."))
        await advance(turn, d, d.first_step)
    else:
        end = d.step(gain.finished(run))
        assert isinstance(end, EndStep)
        await _end(turn, d, end)


async def _end(turn: Turn, d: Dialog, step: EndStep) -> None:
    turn.say(_t(turn, d, step.id, "text", step.text))
    await finish(turn, d, ending=step.id)


async def finish(turn: Turn, d: Dialog, ending: str | None = None) -> None:
    run = turn.data.get("run", {})
    if "retry" in run:
        await _finish_retry(turn, d, run)
        return
    score: int | None = None
    max_score: int | None = None
    passed = None
    if d.kind in ("quiz", "lesson") and run.get("asked"):
        score, max_score = run["correct"], run["asked"]
        summary = turn._("Your score: {score} out of {total}.").format(score=score, total=max_score)
        if d.kind == "quiz":
            passed = _passed(d, score, max_score)
            summary += " " + _verdict_line(turn, passed)
        turn.say(summary)
    elif d.kind == "exercise":
        score = run.get("score", 0)
    if turn.user.may_keep_progress:
        await learning_queries.complete_module(turn.conn, turn.user.id, d.id, score, max_score, turn.now)
    turn.event("module_completed", d.id, score=score, max_score=max_score, passed=passed, ending=ending)
    track = await achievements.award(turn, d)
    missed = run.get("missed", [])
    turn.state.step_id = None
    if d.kind == "quiz" and missed:
        # Spaced recall: the missed questions again in 2 and 7 days, if the learner wants them.
        # Its yes/no buttons answer at any time, so the retry offer below stays the question.
        await recall.offer(turn, d, missed)
    if track is not None:
        turn.state.dialog_id = None
        turn.data.pop("run", None)
        achievements.offer_certificate(turn, track)
        return
    if d.kind == "quiz" and missed and score is not None and max_score:
        _offer_retry(turn, d, missed, score, max_score)
        return
    turn.state.dialog_id = None
    turn.data.pop("run", None)
    await screens.menu(turn)


def _passed(d: Dialog, score: int, max_score: int) -> bool:
    return 100 * score >= (d.pass_mark or 0) * max_score


def _verdict_line(turn: Turn, passed: bool) -> str:
    return turn._("You passed. Well done!") if passed else turn._("Not passed yet. You can try again.")


def _offer_retry(turn: Turn, d: Dialog, missed: list[str], score: int, max_score: int) -> None:
    # The score travels with the missed questions, so that the retry can add what it gets right.
    turn.data["last_quiz"] = {"dialog": d.id, "missed": missed, "score": score, "max_score": max_score}
    turn.data.pop("run", None)
    turn.state.dialog_id = turn.state.step_id = None
    turn.ask(
        turn.ngettext(
            "You missed {n} question. Try it again?",
            "You missed {n} questions. Try them again?",
            len(missed),
        ).format(n=len(missed)),
        "after",
        [Choice("retry", turn._("Retry missed")), Choice("menu", turn._("Main menu"))],
    )


async def retry_missed(turn: Turn) -> bool:
    last = turn.data.get("last_quiz") or {}
    d = turn.content.get(last.get("dialog", ""))
    missed = [m for m in last.get("missed", []) if d and d.has_step(m)]
    if d is None or not missed:
        return False
    turn.state.dialog_id = d.id
    turn.data["run"] = {
        "retry": missed[1:],
        "retry_total": len(missed),
        "retry_correct": 0,
        "still_missed": [],
        "base": last.get("score"),
        "max_score": last.get("max_score"),
    }
    turn.event("quiz_retry_started", d.id, questions=len(missed))
    await advance(turn, d, missed[0])
    return True


async def _finish_retry(turn: Turn, d: Dialog, run: dict) -> None:
    """A retried question answered right now counts: the quiz's score, pass, best score and badges
    follow. The event stays `quiz_retry_completed`, so first-try statistics are not mixed in."""
    got, total = run.get("retry_correct", 0), run.get("retry_total", 0)
    base, max_score = run.get("base"), run.get("max_score")
    turn.say(turn._("This time you got {score} out of {total} right.").format(score=got, total=total))
    turn.data.pop("last_quiz", None)
    turn.data.pop("run", None)
    turn.state.dialog_id = turn.state.step_id = None
    if base is None or not max_score:  # a retry offered before retries counted: nothing to add to
        turn.event("quiz_retry_completed", d.id, correct=got, total=total)
        await screens.menu(turn)
        return
    score = min(base + got, max_score)
    passed = _passed(d, score, max_score)
    turn.event(
        "quiz_retry_completed",
        d.id,
        correct=got,
        total=total,
        score=score,
        max_score=max_score,
        passed=passed,
    )
    summary = turn._("Your score: {score} out of {total}.").format(score=score, total=max_score)
    turn.say(summary + " " + _verdict_line(turn, passed))
    if turn.user.may_keep_progress:
        await learning_queries.complete_module(turn.conn, turn.user.id, d.id, score, max_score, turn.now)
    track = await achievements.award(turn, d, first_try=False)
    if track is not None:
        achievements.offer_certificate(turn, track)
        return
    still = run.get("still_missed") or []
    if still:
        _offer_retry(turn, d, still, score, max_score)
        return
    await screens.menu(turn)
