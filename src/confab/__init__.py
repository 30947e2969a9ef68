"""confab: persona-grounded open-domain dialogue, from Reddit dumps to chatbots.

from confab import load_agent
agent = load_agent("models/gen", evaluator="models/eval")
reply = agent.respond(["hi , how are you ?"], persona=["i love to ski."])
"""

from confab.agents import load_agent
from confab.replies import Agent, Candidate, Reply
from confab.version import __version__

__all__ = ["Agent", "Candidate", "Reply", "load_agent", "__version__"]
