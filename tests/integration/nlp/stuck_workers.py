"""Worker functions that get stuck or die, for the matcher pool's tests.

They run in the pool's worker processes, which are spawned: a test puts one in place of the
pool's own worker function (monkeypatch), the parent pickles it by name, and the worker imports
this module to run it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from essayflow.common.v1 import common_pb2
from services.nlp.pool import _worker_match as match_in_worker
from services.nlp.suggestions import EssayToMatch

# The title separator before extraction was made linear, as the issue reproduced it: quadratic on
# a long whitespace run (minutes for 49,000 spaces), and a `re` call cannot be interrupted.
HISTORIC_TITLE_SEPARATOR = re.compile(r"\s+[-\u2013\u2014|/]\s+|\s*[\u2013\u2014|]\s*|[()\[\]]")
CRASH = "CRASH THE WORKER"


def match_with_the_historic_separator(
    token: int, roster: Sequence[common_pb2.Student] | None, essay: EssayToMatch
) -> bytes:
    """The old extraction's stall, then the real matcher: a hostile essay gets stuck in `re`."""
    for line in essay.text.splitlines():
        HISTORIC_TITLE_SEPARATOR.split(line.strip())
    return match_in_worker(token, roster, essay)


def crash_on_marker(token: int, roster: Sequence[common_pb2.Student] | None, essay: EssayToMatch) -> bytes:
    """The worker process dies (as if killed for its memory) on an essay that says so."""
    if CRASH in essay.text:
        os._exit(3)
    return match_in_worker(token, roster, essay)
