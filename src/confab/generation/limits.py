"""How many tokens of persona, context and response a PLATO-2 example keeps, and in which layout. Apart from the
batching code (and PyTorch) so that the command line takes its defaults from here without loading a model."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from confab.errors import InvalidInput

LAYOUTS = ("confab", "knover")


@dataclass
class Limits:
    max_context: int = 128  # tokens of context (and slot), the most recent kept
    max_persona: int = 64  # tokens of persona sentences, the first sentences kept
    max_response: int = 128  # tokens of response, [BOS] and [EOS] included
    # "confab": the layout of generation.batches; "knover": the released PLATO-2's (`knover_layout`)
    layout: str = "confab"

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise InvalidInput(f"layout {self.layout!r}: {' or '.join(LAYOUTS)}")
        for name in ("max_context", "max_persona", "max_response"):
            value = getattr(self, name)  # any integer type (numpy's too), not a bool
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise InvalidInput(f"{name}: a number of tokens (0 or more), not {value!r}")
