"""The tokenizer of Mazaré et al. (section 3.1): pad every special character with spaces, split on whitespace.

A "special character" is anything that is neither a letter, a digit nor whitespace, so `don't` becomes
`don ' t` and `r/news` becomes `r / news`. Case is kept; models that want lower case lower it themselves.
"""

import re

_TOKEN = re.compile(r"[^\W_]+|[^\w\s]|_", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Split `text` into word and punctuation tokens."""
    return _TOKEN.findall(text)


def truncate_tokens(text: str, max_tokens: int) -> str:
    """Cut `text` after its `max_tokens`-th token, keeping the original spelling and spacing before it."""
    if max_tokens <= 0:
        return ""
    if len(_TOKEN.findall(text)) <= max_tokens:  # the common case, at C speed
        return text
    for i, match in enumerate(_TOKEN.finditer(text)):
        if i + 1 == max_tokens:
            return text[: match.end()]
    return text
