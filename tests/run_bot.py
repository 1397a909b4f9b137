"""`python -m bot …` as an operator runs it: a real process, with its environment and stdin."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping


def run_bot(
    *args: str, env: Mapping[str, str], stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
