"""The released PLATO-2 in confab: Knover's vocabulary, converted checkpoints, and the reference's outputs
(`../shared/plato2_reference`: a tiny random PLATO-2 run by PaddleNLP's model code)."""

import json

import pytest

from confab.text import subwords
from confab.text.knover import KnoverTokenizer, normalise
from tests.test_paddle import reference


@pytest.fixture(scope="module")
def io_json():
    return json.loads(reference("io.json").read_text())


@pytest.fixture(scope="module")
def knover_tok():
    reference("spm.model")
    return KnoverTokenizer.load(reference("."))


def test_the_text_is_normalised_as_the_reference_does():
    assert normalise("  Caf\u00e9   \u201cgood\u201d \u2014 it\u2019s\x07 fine ") == 'Cafe "good" - it\'s fine'


def test_knover_pieces_and_ids_are_the_references(io_json, knover_tok, tmp_path):
    tok = knover_tok
    assert (tok.pad, tok.unk, tok.bos, tok.eos, tok.mask, len(tok)) == (0, 0, 1, 2, 8000, 8001)
    for case in io_json["cases"]:
        ids = [tok.bos]
        for turn in case["context"]:
            ids += [*tok.encode(turn), tok.eos]
        assert ids == case["infer_record"]["token_ids"]
        assert ["[CLS]", *[p for t in case["context"] for p in (*tok.tokenize(t), "[SEP]")]] == case[
            "infer_token_pieces"
        ]
        response = case["tf_record"]["token_ids"][len(ids) :]
        assert response == [tok.bos, *tok.encode(case["response"]), tok.eos]
        for candidate in case["decode_candidates"]:
            assert tok.decode(candidate["response_ids"]) == candidate["response"]
    tok.save(tmp_path / "t")
    again = subwords.load(tmp_path / "t")
    assert again.kind == "knover-sentencepiece" and again.digest() == tok.digest()
