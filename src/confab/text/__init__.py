"""Tokenizers and dictionaries."""

from confab.text.dictionary import Dictionary, TokenCounter
from confab.text.tokenize import tokenize, truncate_tokens

__all__ = ["Dictionary", "TokenCounter", "tokenize", "truncate_tokens"]
