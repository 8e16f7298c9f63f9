"""Drive Token Factory with the official, unchanged `openai` Python SDK.

Environment:
  OPENAI_BASE_URL  the gateway's /v1 URL, e.g. http://127.0.0.1:8080/v1
  OPENAI_API_KEY   a Token Factory key (aic_...)
  TF_CHAT_MODEL    chat model that echoes the last user message (default demo-echo)
  TF_EMBED_MODEL   embedding model returning 64-dim unit vectors (default demo-embed)

Prints "ok: <check>" per check; the first failure raises (AssertionError or the
SDK's own exception) and the process exits non-zero.
"""

import json
import math
import os
import sys

import openai
from openai import OpenAI

BASE_URL = os.environ["OPENAI_BASE_URL"]
API_KEY = os.environ["OPENAI_API_KEY"]
CHAT_MODEL = os.environ.get("TF_CHAT_MODEL") or "demo-echo"
EMBED_MODEL = os.environ.get("TF_EMBED_MODEL") or "demo-embed"
EMBED_DIM = 64

client = OpenAI(base_url=BASE_URL, api_key=API_KEY)


def ok(name):
    print(f"ok: {name}", flush=True)


def check_usage(usage, where):
    assert usage is not None, f"{where}: usage is missing"
    assert usage.prompt_tokens > 0, f"{where}: usage.prompt_tokens={usage.prompt_tokens!r}, want > 0"
    assert usage.completion_tokens > 0, (
        f"{where}: usage.completion_tokens={usage.completion_tokens!r}, want > 0"
    )
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, (
        f"{where}: usage.total_tokens={usage.total_tokens!r}, want "
        f"{usage.prompt_tokens} + {usage.completion_tokens}"
    )


def check_plain_chat():
    text = "hello from python"
    raw = client.chat.completions.with_raw_response.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": text}]
    )
    request_id = raw.headers.get("x-request-id")
    assert request_id and request_id.startswith("req_"), (
        f"plain chat: x-request-id header={request_id!r}, want one starting with 'req_'"
    )
    completion = raw.parse()
    assert completion._request_id == request_id, (
        f"plain chat: completion._request_id={completion._request_id!r}, want {request_id!r}"
    )
    assert completion.object == "chat.completion", f"plain chat: object={completion.object!r}"
    assert len(completion.choices) == 1, f"plain chat: {len(completion.choices)} choices, want 1"
    choice = completion.choices[0]
    assert choice.message.role == "assistant", f"plain chat: role={choice.message.role!r}"
    assert choice.message.content == text, (
        f"plain chat: content={choice.message.content!r}, want the echo {text!r}"
    )
    assert choice.finish_reason == "stop", f"plain chat: finish_reason={choice.finish_reason!r}, want 'stop'"
    check_usage(completion.usage, "plain chat")

    # The plain (non-raw) call carries the request id too.
    again = client.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": text}])
    assert again.choices[0].message.content == text, (
        f"plain chat: content={again.choices[0].message.content!r}, want {text!r}"
    )
    assert again._request_id and again._request_id.startswith("req_"), (
        f"plain chat: completion._request_id={again._request_id!r}, want one starting with 'req_'"
    )
    ok("plain chat")


def check_streamed_chat():
    text = "streamed words from python arrive one by one"
    stream = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks, "streamed chat: the stream had no chunks"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    joined = "".join(c.choices[0].delta.content for c in content_chunks)
    assert joined == text, f"streamed chat: joined deltas={joined!r}, want the echo {text!r}"
    assert len(content_chunks) > 1, (
        f"streamed chat: {len(content_chunks)} chunk(s) with content, want more than one"
    )
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"], f"streamed chat: finish_reasons={finishes!r}, want ['stop']"
    last = chunks[-1]
    assert last.choices == [], f"streamed chat: last chunk choices={last.choices!r}, want []"
    check_usage(last.usage, "streamed chat (last chunk)")
    with_usage = [i for i, c in enumerate(chunks) if c.usage is not None]
    assert with_usage == [len(chunks) - 1], (
        f"streamed chat: chunks {with_usage} carry usage, want only the last ({len(chunks) - 1})"
    )
    ids = {c.id for c in chunks}
    assert len(ids) == 1, f"streamed chat: chunk ids differ: {sorted(ids)}"

    stream = client.chat.completions.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": text}], stream=True
    )
    chunks = list(stream)
    joined = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert joined == text, f"streamed chat without stream_options: joined={joined!r}, want {text!r}"
    with_usage = [i for i, c in enumerate(chunks) if c.usage is not None]
    assert not with_usage, f"streamed chat without stream_options: chunks {with_usage} carry usage, want none"
    ok("streamed chat")


def check_embeddings():
    inputs = ["the first input", "a second, different input"]
    # No encoding_format: the SDK asks for base64 and decodes it to floats.
    raw = client.embeddings.with_raw_response.create(model=EMBED_MODEL, input=inputs)
    sent = json.loads(raw.http_request.content)
    assert sent.get("encoding_format") == "base64", (
        f"embeddings: the SDK sent encoding_format={sent.get('encoding_format')!r}; "
        "this check expects its default (base64)"
    )
    result = raw.parse()
    assert len(result.data) == 2, f"embeddings: {len(result.data)} embeddings for 2 inputs"
    for i, item in enumerate(result.data):
        assert item.index == i, f"embeddings: data[{i}].index={item.index}"
        vec = item.embedding
        assert isinstance(vec, list) and all(isinstance(x, float) for x in vec), (
            f"embeddings: data[{i}].embedding is {type(vec).__name__}, want a list of floats"
        )
        assert len(vec) == EMBED_DIM, f"embeddings: data[{i}] has {len(vec)} dims, want {EMBED_DIM}"
        norm = math.sqrt(sum(x * x for x in vec))
        assert abs(norm - 1.0) < 1e-3, f"embeddings: data[{i}] norm={norm}, want about 1"
    assert result.data[0].embedding != result.data[1].embedding, "embeddings: different inputs gave the same vector"
    assert result.usage.prompt_tokens > 0, f"embeddings: usage.prompt_tokens={result.usage.prompt_tokens!r}"

    again = client.embeddings.create(model=EMBED_MODEL, input=[inputs[0], inputs[0]])
    a, b = again.data[0].embedding, again.data[1].embedding
    assert a == b, "embeddings: the same input twice in one request gave different vectors"
    assert a == result.data[0].embedding, "embeddings: the same input in two requests gave different vectors"
    ok("embeddings")


def check_models():
    ids = [m.id for m in client.models.list()]
    for want in (CHAT_MODEL, EMBED_MODEL):
        assert want in ids, f"models: list() gave {ids!r}, want it to contain {want!r}"
    model = client.models.retrieve(CHAT_MODEL)
    assert model.id == CHAT_MODEL, f"models: retrieve({CHAT_MODEL!r}).id={model.id!r}"
    assert model.object == "model", f"models: retrieve({CHAT_MODEL!r}).object={model.object!r}"
    ok("models")


def check_errors():
    quick = client.with_options(max_retries=0)
    try:
        quick.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    except openai.NotFoundError as e:
        code = e.code or (e.body or {}).get("code")
        assert e.status_code == 404, f"errors: unknown model gave status {e.status_code}, want 404"
        assert code == "model_not_found", f"errors: unknown model gave code {code!r}, want 'model_not_found'"
        assert e.request_id and e.request_id.startswith("req_"), (
            f"errors: the error's request id is {e.request_id!r}, want one starting with 'req_'"
        )
    else:
        raise AssertionError("errors: a chat for model 'no-such-model' did not raise openai.NotFoundError")

    wrong = OpenAI(base_url=BASE_URL, api_key="aic_000000000000_wrong", max_retries=0)
    try:
        wrong.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}])
    except openai.AuthenticationError as e:
        assert e.status_code == 401, f"errors: a wrong key gave status {e.status_code}, want 401"
    else:
        raise AssertionError("errors: a wrong API key did not raise openai.AuthenticationError")
    ok("errors")


def main():
    print(f"openai (python) {openai.__version__} against {BASE_URL}", flush=True)
    check_plain_chat()
    check_streamed_chat()
    check_embeddings()
    check_models()
    check_errors()
    print("all SDK checks passed (python)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
