"""The inference server on a real loopback port with a tiny transformers model."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import RunningServer, wait_healthy
from inference.app import create_app
from inference.backend import Backend
from inference.hf_backend import HFBackend
from inference.settings import Settings


def _settings(model: Path, adapters: Path) -> Settings:
    return Settings(model_path=str(model), served_model_name="tiny", adapters_dir=str(adapters), device="cpu")


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = _settings(tiny_model_dir, tmp_path_factory.mktemp("no-adapters"))
    with RunningServer(create_app(lambda: HFBackend(settings))) as running:
        wait_healthy(running.url)
        yield running.url


def test_health_is_503_until_the_model_is_loaded(tiny_model_dir: Path, tmp_path: Path) -> None:
    gate = threading.Event()
    settings = _settings(tiny_model_dir, tmp_path)

    def load() -> Backend:
        gate.wait(30)  # holds the real load back so that the loading phase can be observed
        return HFBackend(settings)

    with RunningServer(create_app(load)) as running:
        for path in ("/health", "/healthz"):
            r = httpx.get(running.url + path)
            assert r.status_code == 503
            assert r.json()["status"] == "Loading"
        assert httpx.post(running.url + "/chat", json={"prompt": "hi"}).status_code == 503
        gate.set()
        wait_healthy(running.url)
        assert httpx.get(running.url + "/healthz").json() == {"status": "Healthy"}


def test_health_reports_a_failed_load(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "missing", tmp_path)
    with RunningServer(create_app(lambda: HFBackend(settings))) as running:
        for _ in range(200):
            body = httpx.get(running.url + "/health").json()
            if body["status"] != "Loading":
                break
            threading.Event().wait(0.05)
        assert body["status"] == "Failed"
        assert "does not exist" in body["error"]


def test_chat_with_a_prompt_returns_generated_text(server: str) -> None:
    r = httpx.post(
        server + "/chat",
        json={"prompt": "the quick brown", "generate_kwargs": {"max_length": 20, "do_sample": False}},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    result = r.json()["Result"]
    assert result.startswith("the quick brown")
    assert len(result) > len("the quick brown")


def test_chat_without_full_text_and_with_messages(server: str) -> None:
    r = httpx.post(
        server + "/chat",
        json={
            "prompt": "hello",
            "return_full_text": False,
            "generate_kwargs": {"max_new_tokens": 5, "temperature": 0.7, "top_k": 5, "top_p": 0.9},
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert not r.json()["Result"].startswith("hello")
    r = httpx.post(
        server + "/chat",
        json={
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
            "generate_kwargs": {"max_new_tokens": 5, "do_sample": False},
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["Result"], str) and r.json()["Result"]


def test_chat_with_beam_search(server: str) -> None:
    r = httpx.post(
        server + "/chat",
        json={
            "prompt": "the quick brown",
            "return_full_text": False,
            "generate_kwargs": {
                "max_new_tokens": 6,
                "do_sample": False,
                "num_beams": 2,
                "early_stopping": True,
            },
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.json()["Result"]


def test_openai_chat_completion(server: str) -> None:
    body = {
        "model": "tiny",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 8,
        "temperature": 0,
    }
    r = httpx.post(server + "/v1/chat/completions", json=body, timeout=60)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["object"] == "chat.completion"
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"]
    assert choice["finish_reason"] in {"stop", "length"}
    assert data["usage"]["completion_tokens"] >= 1
    assert (
        data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
    )
    # Greedy decoding is deterministic: streaming must produce the same text.
    streamed = _stream(
        server + "/v1/chat/completions", {**body, "stream": True, "stream_options": {"include_usage": True}}
    )
    chunks = [c for c in streamed if c["choices"]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == choice["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == choice["finish_reason"]
    assert streamed[-1]["usage"]["completion_tokens"] == data["usage"]["completion_tokens"]


def _stream(url: str, body: dict[str, object]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with httpx.stream("POST", url, json=body, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        assert line.startswith("data: ")
        events.append(json.loads(line[len("data: ") :]))
    return events


def test_openai_completions_models_and_stop(server: str) -> None:
    r = httpx.get(server + "/v1/models")
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["data"]] == ["tiny"]
    r = httpx.post(
        server + "/v1/completions",
        json={"prompt": "the capital of", "max_tokens": 6, "temperature": 0},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    text = r.json()["choices"][0]["text"]
    assert text
    events = _stream(
        server + "/v1/completions",
        {"prompt": "the capital of", "max_tokens": 6, "temperature": 0, "stream": True},
    )
    assert "".join(str(e["choices"][0]["text"]) for e in events) == text
    # A stop string cuts the output before it.
    stop = text.strip()[:1]
    if stop:
        r = httpx.post(
            server + "/v1/completions",
            json={"prompt": "the capital of", "max_tokens": 6, "temperature": 0, "stop": [stop]},
            timeout=60,
        )
        assert stop not in r.json()["choices"][0]["text"]
        assert r.json()["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/v1/chat/completions", {"messages": []}, 400, "messages"),
        ("/v1/chat/completions", {"messages": [{"role": "wizard", "content": "x"}]}, 400, "role"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "x"}], "max_tokens": -1},
            400,
            "max_tokens",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000},
            400,
            "context length",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "fox " * 400}]},
            400,
            "context length",
        ),
        (
            "/v1/chat/completions",
            {"model": "other", "messages": [{"role": "user", "content": "x"}]},
            404,
            "other",
        ),
        ("/v1/chat/completions", {"messages": "hello"}, 400, "messages"),
        ("/v1/completions", {"prompt": ""}, 400, "prompt"),
        ("/v1/completions", {"prompt": "x", "temperature": 9}, 400, "temperature"),
        ("/chat", {}, 400, "prompt"),
        ("/chat", {"prompt": "x", "messages": [{"role": "user", "content": "x"}]}, 400, "exactly one"),
        ("/chat", {"prompt": "x", "generate_kwargs": {"max_length": -5}}, 400, "max_length"),
        ("/chat", {"prompt": "fox " * 400}, 400, "max_length"),
        ("/chat", {"prompt": "fox " * 400, "generate_kwargs": {"max_new_tokens": 2}}, 400, "context length"),
        ("/chat", {"prompt": "x", "generate_kwargs": {"not_a_generate_flag": 1}}, 400, "not_a_generate_flag"),
        ("/chat", {"messages": [{"role": "user"}], "bogus": 1}, 400, "bogus"),
    ],
)
def test_bad_requests_get_4xx_and_the_server_lives_on(
    server: str, path: str, body: dict[str, object], status: int, needle: str
) -> None:
    r = httpx.post(server + path, json=body, timeout=60)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]
    assert httpx.get(server + "/health").status_code == 200


def test_invalid_json_is_a_400(server: str) -> None:
    r = httpx.post(server + "/chat", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_metrics_count_requests_tokens_and_ttft(server: str) -> None:
    httpx.post(
        server + "/v1/completions", json={"prompt": "hello", "max_tokens": 3, "temperature": 0}, timeout=60
    )
    text = httpx.get(server + "/metrics").text
    assert 'kaito_inference_requests_total{endpoint="/v1/completions",status="200"}' in text
    assert "kaito_inference_generated_tokens_total" in text
    assert 'kaito_inference_time_to_first_token_seconds_count{endpoint="/v1/completions"}' in text
    assert "kaito_inference_generation_duration_seconds_bucket" in text
    assert "kaito_inference_model_loaded 1.0" in text


def test_a_client_that_leaves_mid_stream_does_not_hurt(server: str) -> None:
    body = {
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 200,
        "temperature": 0,
        "stream": True,
    }
    with httpx.stream("POST", server + "/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        next(r.iter_lines())
    # The abandoned generation is cancelled; the next request is served normally.
    r2 = httpx.post(server + "/v1/completions", json={"prompt": "hello", "max_tokens": 3}, timeout=60)
    assert r2.status_code == 200, r2.text
