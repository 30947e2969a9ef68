"""confab: persona-grounded open-domain dialogue, from Reddit dumps to chatbots."""

__version__ = "0.1.0"
