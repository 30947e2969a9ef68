import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confab.replies import Candidate, Reply
from confab.serve.app import MAX_MESSAGE_CHARS, MAX_PERSONA_SENTENCES, SAFE_REPLY, ServeConfig, create_app
from confab.serve.batcher import Batcher
from confab.serve.sessions import SessionStore
from tests.conftest import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Batched:
    """Answers with what it heard and its persona; records how many requests each model call carried."""

    def __init__(self, candidates=None, delay=0.0):
        self.batches, self.candidates, self.delay = [], candidates, delay

    def respond_batch(self, requests):
        self.batches.append(len(requests))
        time.sleep(self.delay)
        replies = []
        for history, persona in requests:
            text = f"you said {history[-1]} ({len(history)} turns; {' '.join(persona) or 'no persona'})"
            candidates = self.candidates or [Candidate(text, 0.9, {"z": 3}), Candidate("other", -math.inf, {"z": 4})]
            replies.append(Reply(candidates[0].text, candidates, 0.01))
        return replies


def client(agent=None, **config) -> TestClient:
    return TestClient(create_app(agent or Batched(), ServeConfig(model="test", **config)))


def test_a_session_keeps_its_history_and_persona():
    with client() as c:
        first = c.post("/v1/chat", json={"message": "hello", "persona": ["i like tea."]}).json()
        assert first["response"] == "you said hello (1 turns; i like tea.)" and first["turn"] == 2
        assert first["scored_by"] == "the agent's score"  # an agent that does not say
        assert first["candidates"] == [{"text": first["response"], "score": 0.9, "z": 3, "filtered": False},
                                       {"text": "other", "score": None, "z": 4, "filtered": False}]  # fmt: skip
        sid = first["session_id"]
        second = c.post("/v1/chat", json={"session_id": sid, "message": "  and   you?\n"}).json()
        assert second["response"] == "you said and you? (3 turns; i like tea.)"  # white space made one line
        assert c.put(f"/v1/sessions/{sid}/persona", json={"persona": ["i am a dog."]}).status_code == 200
        third = c.post("/v1/chat", json={"session_id": sid, "message": "who are you?"}).json()
        assert third["persona"] == ["i am a dog."] and third["response"].endswith("(5 turns; i am a dog.)")
        session = c.get(f"/v1/sessions/{sid}").json()
        assert session["history"][::2] == ["hello", "and you?", "who are you?"]
        assert c.delete(f"/v1/sessions/{sid}").status_code == 204
        gone = c.post("/v1/chat", json={"session_id": sid, "message": "hi"})
        assert gone.status_code == 404 and "unknown or expired session" in gone.json()["detail"]
        health = c.get("/v1/health").json()
        assert health["status"] == "ok" and health["agent"] == "Batched" and health["sessions"] == 0


@pytest.mark.parametrize("body,field", [
    ({}, "message"),
    ({"message": 3}, "message"),
    ({"message": ""}, "message"),
    ({"message": "   "}, "message"),
    ({"message": "x" * (MAX_MESSAGE_CHARS + 1)}, "message"),
    ({"message": "hi\x00there"}, "message"),
    ({"message": "hi", "persona": "i like tea."}, "persona"),
    ({"message": "hi", "persona": ["ok"] * (MAX_PERSONA_SENTENCES + 1)}, "persona"),
    ({"message": "hi", "persona": ["fine", "bell\x07"]}, "persona"),
    ({"message": "hi", "session_id": "../../etc"}, "session_id"),
    ({"message": "hi", "mood": "happy"}, "mood"),
])  # fmt: skip
def test_bad_requests_get_422_naming_the_field(body, field):
    with client() as c:
        response = c.post("/v1/chat", json=body)
        assert response.status_code == 422
        assert field in [str(part) for d in response.json()["detail"] for part in d["loc"]]


def test_malformed_json_oversized_bodies_and_wrong_methods():
    with client(max_body_bytes=2048) as c:
        assert c.post("/v1/chat", content=b'{"message": "hi"', headers={"content-type": "application/json"}
                      ).status_code == 422  # fmt: skip
        big = {"message": "hi", "persona": ["x" * 200] * 15}
        assert c.post("/v1/chat", json=big).status_code == 413
        streamed = c.post("/v1/chat", content=iter([b'{"message": "' + b"a" * 1500, b"b" * 1500 + b'"}']),
                          headers={"content-type": "application/json"})  # fmt: skip
        assert streamed.status_code == 413  # no Content-Length: counted as it arrives
        assert c.get("/v1/chat").status_code == 405
        assert c.get("/v1/sessions/nope").status_code == 404
        assert c.post("/v1/chat", json={"message": "still fine"}).status_code == 200


def test_an_api_key_guards_the_api_but_not_health_or_the_page():
    with client(api_key="s3cret") as c:
        assert c.post("/v1/chat", json={"message": "hi"}).status_code == 401
        assert c.post("/v1/chat", json={"message": "hi"}, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.post("/v1/chat", json={"message": "hi"}, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.post("/v1/chat", json={"message": "hi"}, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/metrics").status_code == 401
        assert c.get("/v1/health").status_code == 200 and "<title>confab</title>" in c.get("/").text


def test_metrics_count_requests_errors_and_batches():
    with client() as c:
        c.post("/v1/chat", json={"message": "hi"})
        c.post("/v1/chat", json={"message": ""})
        text = c.get("/metrics").text
    assert 'confab_requests_total{method="POST",path="/v1/chat",status="200"} 1.0' in text
    assert 'confab_requests_total{method="POST",path="/v1/chat",status="422"} 1.0' in text
    assert "confab_batch_size_count 1.0" in text and "confab_sessions 1.0" in text


def test_the_safety_filter_skips_offensive_candidates():
    offensive = Candidate("you are a fucking idiot", 0.9)
    agent = Batched([offensive, Candidate("let us talk about films", 0.5)])
    with client(agent, safety=True) as c:
        reply = c.post("/v1/chat", json={"message": "hi"}).json()
    assert reply["response"] == "let us talk about films" and reply["candidates"][0]["filtered"]
    with client(Batched([offensive]), safety=True) as c:
        assert c.post("/v1/chat", json={"message": "hi"}).json()["response"] == SAFE_REPLY
    with client(Batched([offensive])) as c:  # off by default
        assert c.post("/v1/chat", json={"message": "hi"}).json()["response"] == offensive.text


def test_sessions_expire_make_way_and_keep_the_last_turns():
    now = [0.0]
    store = SessionStore(max_sessions=2, ttl_seconds=10, max_turns=4, clock=lambda: now[0])
    a, b = store.create(), store.create()
    store.get(a.id)  # a is now the most recently used
    c = store.create()
    assert store.get(b.id) is None and store.evicted == 1 and store.get(a.id) is a
    store.add_turns(a, "1", "2", "3")
    store.add_turns(a, "4", "5")
    assert a.history == ["2", "3", "4", "5"]
    now[0] = 11.0
    assert store.get(c.id) is None and len(store) == 0 and store.expired == 2


def test_concurrent_requests_share_model_calls_and_errors_reach_every_request():
    async def run(agent, max_batch):
        batcher = Batcher(agent, max_batch=max_batch, max_wait=0.05)
        await batcher.start()
        replies = await asyncio.gather(*(batcher.respond([f"m{i}"], []) for i in range(8)))
        await batcher.stop()
        return replies

    agent = Batched(delay=0.01)
    replies = asyncio.run(run(agent, 16))
    assert [r.text.split()[2] for r in replies] == [f"m{i}" for i in range(8)]  # each its own answer
    assert sum(agent.batches) == 8 and len(agent.batches) <= 2
    alone = Batched()
    asyncio.run(run(alone, 1))
    assert alone.batches == [1] * 8

    class Broken:
        calls = 0

        def respond_batch(self, requests):
            Broken.calls += 1
            if Broken.calls == 1:
                raise RuntimeError("out of memory")
            return Batched().respond_batch(requests)

    async def broken():
        batcher = Batcher(Broken(), max_batch=4, max_wait=0.05)
        await batcher.start()
        first = await asyncio.gather(*(batcher.respond(["x"], []) for _ in range(3)), return_exceptions=True)
        after = await batcher.respond(["y"], [])
        await batcher.stop()
        return first, after

    first, after = asyncio.run(broken())
    assert all(isinstance(e, RuntimeError) for e in first) and after.text.startswith("you said y")


def test_a_model_failure_is_a_500_and_the_server_goes_on():
    class Flaky(Batched):
        def respond_batch(self, requests):
            if any("boom" in h[-1] for h, _ in requests):
                raise RuntimeError("kaput")
            return super().respond_batch(requests)

    with client(Flaky()) as c:
        failed = c.post("/v1/chat", json={"message": "boom"})
        assert failed.status_code == 500 and "RuntimeError" in failed.json()["detail"]
        assert c.post("/v1/chat", json={"message": "fine"}).status_code == 200
        assert 'confab_errors_total{kind="model"} 1.0' in c.get("/metrics").text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"message": json_values}, optional={"persona": json_values, "session_id": json_values}),
    st.fixed_dictionaries(
        {"message": st.text(max_size=2000)}, optional={"persona": st.lists(st.text(max_size=400), max_size=25)}
    ),  # fmt: skip
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, raw=st.binary(max_size=200))
def test_fuzzed_requests_never_get_a_5xx(body, raw):
    with client() as c:
        assert c.post("/v1/chat", json=body).status_code < 500
        assert c.post("/v1/chat", content=raw, headers={"content-type": "application/json"}).status_code < 500
        assert c.put("/v1/sessions/abc/persona", json=body).status_code < 500
        for literal in (b'{"message": NaN}', b'{"message": "hi", "persona": [Infinity]}', b'{"message": "\\ud800"}'):
            assert c.post("/v1/chat", content=literal, headers={"content-type": "application/json"}).status_code < 500


@contextmanager
def served(*options: str):
    """`confab serve OPTIONS` in its own process on loopback; yields its address once it answers."""
    port = free_port()
    args = [sys.executable, "-m", "confab.cli", "serve", *options, "--port", str(port)]
    env = {**os.environ, "NO_COLOR": "1"}
    server = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    import httpx

    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        server.kill()
        pytest.fail("the server did not start: " + server.stdout.read().decode())
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def retrieval_server(small_retrieval):
    """A small retrieval model and index."""
    model, index = small_retrieval
    with served("--agent", f"{model},index={index}") as url:
        yield url


def test_the_shipped_models_serve_by_name():
    import httpx

    shipped = (["--agent", "bundled:plato2,evaluator=bundled:plato2"],
               ["--agent", "bundled:retrieval,index=bundled:retrieval"])
    for options in shipped:
        with served(*options) as url:
            reply = httpx.post(url + "/v1/chat", json={"message": "do you have pets ?"}, timeout=60)
            assert reply.status_code == 200 and len(reply.json()["candidates"]) >= 10, (options, reply.text)


def test_the_server_answers_over_http_with_its_schema(retrieval_server):
    import httpx

    schema = httpx.get(retrieval_server + "/openapi.json").json()
    assert {"/v1/chat", "/v1/health", "/v1/sessions/{session_id}"} <= set(schema["paths"])
    reply = httpx.post(retrieval_server + "/v1/chat", json={"message": "hello there", "persona": ["i like ski"]})
    assert reply.status_code == 200 and len(reply.json()["candidates"]) == 3


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package: chromium)")
def test_the_web_page_chats_with_a_persona_and_shows_the_candidates(retrieval_server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip: playwright)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(retrieval_server + "/")
        page.fill("#persona", "i like to ski.\ni have two dogs.")
        page.fill("#message", "hello there")
        page.keyboard.press("Enter")
        page.wait_for_selector(".turn.bot")
        reply = page.text_content(".turn.bot")
        page.click("details.candidates summary")
        items = page.query_selector_all("details.candidates li")
        assert len(items) == 3 and page.text_content("details.candidates li.chosen") in reply
        assert "Ranked by dot product of the context and response encodings" in page.text_content("details.candidates")
        session = json.loads(page.evaluate("JSON.stringify(sessionStorage)"))["confab-session"]
        page.fill("#message", "what do you do")
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelectorAll('.turn.bot').length == 2")
        page.reload()  # the dialogue and persona come back from the server
        page.wait_for_function("document.querySelectorAll('.turn').length == 4")
        assert page.input_value("#persona") == "i like to ski.\ni have two dogs."
        browser.close()
    assert errors == [] and all(u.startswith(retrieval_server) for u in requests)  # nothing from the internet
    import httpx

    history = httpx.get(f"{retrieval_server}/v1/sessions/{session}").json()["history"]
    assert history[0] == "hello there" and len(history) == 4


def test_the_readme_python_example_runs(capsys):
    """As written: it loads the PLATO-2 that ships with confab."""
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("<!-- api-example")[1].split("```python\n")[1].split("```")[0]
    exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 5 and printed[-1].endswith("coherence p(l=1|c,r) of the evaluation model")


def test_the_event_loop_stays_free_while_the_model_works():
    import httpx

    async def run():
        app = create_app(Batched(delay=1.0), ServeConfig())
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://confab") as http:
                chat = asyncio.create_task(http.post("/v1/chat", json={"message": "hi"}))
                await asyncio.sleep(0.1)  # the model is busy now
                start = time.perf_counter()
                health = await http.get("/v1/health")
                waited = time.perf_counter() - start
                assert not chat.done()
                reply = await chat
        return health.status_code, waited, reply.status_code

    status, waited, chat_status = asyncio.run(run())
    assert status == 200 and chat_status == 200 and waited < 0.5  # answered while the model call still ran
