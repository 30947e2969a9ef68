"""A helper process of `persona.PosFilter(helpers=N)`: a JSON list of sentences a line on standard input, a JSON
list of their part-of-speech decisions a line on standard output. A process of its own, started by command, so
that nothing of the caller (its main module, its threads) is copied or imported into it."""

from __future__ import annotations

import json
import sys

# thinc imports PyTorch when it is installed, for layers that wrap PyTorch models; the tagger has none, and the
# import was 1.2 s of the 1.7 s a helper took to start (a process of its own: nothing else here needs torch)
sys.modules.setdefault("torch", None)

from confab.data.persona import PosFilter  # noqa: E402 - after torch is kept out


def main() -> None:
    tagger = PosFilter(sys.argv[1], int(sys.argv[2]))
    for line in sys.stdin:
        sys.stdout.write(json.dumps(tagger(json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
