"""A deterministic stand-in for an agent, for tests of the protocols that drive agents."""

from confab.replies import Candidate, Reply


class Scripted:
    """Answers with who it is, what it was told last, how long the history was and its persona."""

    def __init__(self, name):
        from confab.generation.decode import DecodeConfig

        self.name, self.decode, self.seen = name, DecodeConfig(), []

    def respond(self, history, persona):
        self.seen.append((list(history), list(persona)))
        text = f"{self.name} heard {history[-1].split()[0]} ({len(history)})"
        return Reply(text, [Candidate(text, 1.0, {"z": len(history)})], 0.0)
