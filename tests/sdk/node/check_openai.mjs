// Drive Token Factory with the official, unchanged `openai` npm package.
//
// Environment:
//   OPENAI_BASE_URL  the gateway's /v1 URL, e.g. http://127.0.0.1:8080/v1
//   OPENAI_API_KEY   a Token Factory key (aic_...)
//   TF_CHAT_MODEL    chat model that echoes the last user message (default demo-echo)
//   TF_EMBED_MODEL   embedding model returning 64-dim unit vectors (default demo-embed)
//
// Prints "ok: <check>" per check; on the first failure it prints the error and
// sets a non-zero exit code.

import assert from "node:assert/strict";
import OpenAI from "openai";
import { VERSION } from "openai/version";

const BASE_URL = process.env.OPENAI_BASE_URL;
const API_KEY = process.env.OPENAI_API_KEY;
const CHAT_MODEL = process.env.TF_CHAT_MODEL || "demo-echo";
const EMBED_MODEL = process.env.TF_EMBED_MODEL || "demo-embed";
const EMBED_DIM = 64;

const client = new OpenAI({ baseURL: BASE_URL, apiKey: API_KEY });

const ok = (name) => console.log(`ok: ${name}`);

function checkUsage(usage, where) {
  assert.ok(usage, `${where}: usage is missing`);
  assert.ok(usage.prompt_tokens > 0, `${where}: usage.prompt_tokens=${usage.prompt_tokens}, want > 0`);
  assert.ok(
    usage.completion_tokens > 0,
    `${where}: usage.completion_tokens=${usage.completion_tokens}, want > 0`,
  );
  assert.equal(
    usage.total_tokens,
    usage.prompt_tokens + usage.completion_tokens,
    `${where}: usage.total_tokens=${usage.total_tokens}, want ${usage.prompt_tokens} + ${usage.completion_tokens}`,
  );
}

async function checkPlainChat() {
  const text = "hello from node";
  const { data: completion, response, request_id } = await client.chat.completions
    .create({ model: CHAT_MODEL, messages: [{ role: "user", content: text }] })
    .withResponse();
  const requestId = response.headers.get("x-request-id");
  assert.ok(
    requestId?.startsWith("req_"),
    `plain chat: x-request-id header=${JSON.stringify(requestId)}, want one starting with 'req_'`,
  );
  assert.equal(request_id, requestId, "plain chat: withResponse().request_id differs from the header");
  assert.equal(completion.object, "chat.completion", `plain chat: object=${completion.object}`);
  assert.equal(completion.choices.length, 1, `plain chat: ${completion.choices.length} choices, want 1`);
  const [choice] = completion.choices;
  assert.equal(choice.message.role, "assistant", `plain chat: role=${choice.message.role}`);
  assert.equal(choice.message.content, text, `plain chat: content=${JSON.stringify(choice.message.content)}, want the echo`);
  assert.equal(choice.finish_reason, "stop", `plain chat: finish_reason=${choice.finish_reason}, want 'stop'`);
  checkUsage(completion.usage, "plain chat");

  // The plain (awaited) call carries the request id too.
  const again = await client.chat.completions.create({
    model: CHAT_MODEL,
    messages: [{ role: "user", content: text }],
  });
  assert.equal(again.choices[0].message.content, text, "plain chat: second call's content is not the echo");
  assert.ok(
    again._request_id?.startsWith("req_"),
    `plain chat: completion._request_id=${JSON.stringify(again._request_id)}, want one starting with 'req_'`,
  );
  ok("plain chat");
}

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function checkStreamedChat() {
  const text = "streamed words from node arrive one by one";
  let chunks = await collect(
    await client.chat.completions.create({
      model: CHAT_MODEL,
      messages: [{ role: "user", content: text }],
      stream: true,
      stream_options: { include_usage: true },
    }),
  );
  assert.ok(chunks.length > 0, "streamed chat: the stream had no chunks");
  const contentChunks = chunks.filter((c) => c.choices.length > 0 && c.choices[0].delta.content);
  const joined = contentChunks.map((c) => c.choices[0].delta.content).join("");
  assert.equal(joined, text, `streamed chat: joined deltas=${JSON.stringify(joined)}, want the echo`);
  assert.ok(
    contentChunks.length > 1,
    `streamed chat: ${contentChunks.length} chunk(s) with content, want more than one`,
  );
  const finishes = chunks.filter((c) => c.choices[0]?.finish_reason).map((c) => c.choices[0].finish_reason);
  assert.deepEqual(finishes, ["stop"], `streamed chat: finish_reasons=${JSON.stringify(finishes)}, want ["stop"]`);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, [], `streamed chat: last chunk choices=${JSON.stringify(last.choices)}, want []`);
  checkUsage(last.usage, "streamed chat (last chunk)");
  let withUsage = chunks.flatMap((c, i) => (c.usage ? [i] : []));
  assert.deepEqual(
    withUsage,
    [chunks.length - 1],
    `streamed chat: chunks ${JSON.stringify(withUsage)} carry usage, want only the last (${chunks.length - 1})`,
  );
  const ids = new Set(chunks.map((c) => c.id));
  assert.equal(ids.size, 1, `streamed chat: chunk ids differ: ${[...ids].join(", ")}`);

  chunks = await collect(
    await client.chat.completions.create({
      model: CHAT_MODEL,
      messages: [{ role: "user", content: text }],
      stream: true,
    }),
  );
  const joinedPlain = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
  assert.equal(joinedPlain, text, `streamed chat without stream_options: joined=${JSON.stringify(joinedPlain)}`);
  withUsage = chunks.flatMap((c, i) => (c.usage ? [i] : []));
  assert.deepEqual(
    withUsage,
    [],
    `streamed chat without stream_options: chunks ${JSON.stringify(withUsage)} carry usage, want none`,
  );
  ok("streamed chat");
}

async function checkEmbeddings() {
  // Record what the SDK sends, through its public `fetch` option.
  const sent = [];
  const recording = new OpenAI({
    baseURL: BASE_URL,
    apiKey: API_KEY,
    fetch: (url, init) => {
      sent.push(JSON.parse(init.body));
      return fetch(url, init);
    },
  });
  const inputs = ["the first input", "a second, different input"];
  // No encoding_format: the SDK asks for base64 and decodes it to floats.
  const result = await recording.embeddings.create({ model: EMBED_MODEL, input: inputs });
  assert.equal(
    sent[0]?.encoding_format,
    "base64",
    `embeddings: the SDK sent encoding_format=${sent[0]?.encoding_format}; this check expects its default (base64)`,
  );
  assert.equal(result.data.length, 2, `embeddings: ${result.data.length} embeddings for 2 inputs`);
  result.data.forEach((item, i) => {
    assert.equal(item.index, i, `embeddings: data[${i}].index=${item.index}`);
    const vec = item.embedding;
    assert.ok(
      Array.isArray(vec) && vec.every((x) => typeof x === "number"),
      `embeddings: data[${i}].embedding is ${typeof vec}, want an array of numbers`,
    );
    assert.equal(vec.length, EMBED_DIM, `embeddings: data[${i}] has ${vec.length} dims, want ${EMBED_DIM}`);
    const norm = Math.sqrt(vec.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-3, `embeddings: data[${i}] norm=${norm}, want about 1`);
  });
  assert.notDeepEqual(result.data[0].embedding, result.data[1].embedding, "embeddings: different inputs gave the same vector");
  assert.ok(result.usage.prompt_tokens > 0, `embeddings: usage.prompt_tokens=${result.usage.prompt_tokens}`);

  const again = await client.embeddings.create({ model: EMBED_MODEL, input: [inputs[0], inputs[0]] });
  assert.deepEqual(again.data[0].embedding, again.data[1].embedding, "embeddings: the same input twice in one request gave different vectors");
  assert.deepEqual(again.data[0].embedding, result.data[0].embedding, "embeddings: the same input in two requests gave different vectors");
  ok("embeddings");
}

async function checkModels() {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  for (const want of [CHAT_MODEL, EMBED_MODEL]) {
    assert.ok(ids.includes(want), `models: list() gave ${JSON.stringify(ids)}, want it to contain ${want}`);
  }
  const model = await client.models.retrieve(CHAT_MODEL);
  assert.equal(model.id, CHAT_MODEL, `models: retrieve(${CHAT_MODEL}).id=${model.id}`);
  assert.equal(model.object, "model", `models: retrieve(${CHAT_MODEL}).object=${model.object}`);
  ok("models");
}

async function expectError(promise, ErrorClass, what) {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ErrorClass) return err;
    throw new assert.AssertionError({
      message: `errors: ${what} threw ${err?.constructor?.name} (${err?.message}), want ${ErrorClass.name}`,
    });
  }
  throw new assert.AssertionError({ message: `errors: ${what} did not throw ${ErrorClass.name}` });
}

async function checkErrors() {
  const quick = client.withOptions({ maxRetries: 0 });
  let err = await expectError(
    quick.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }),
    OpenAI.NotFoundError,
    "a chat for model 'no-such-model'",
  );
  assert.equal(err.status, 404, `errors: unknown model gave status ${err.status}, want 404`);
  assert.equal(err.code, "model_not_found", `errors: unknown model gave code ${err.code}, want model_not_found`);
  assert.ok(
    typeof err.requestID === "string" && err.requestID.startsWith("req_"),
    `errors: the error's request id is ${JSON.stringify(err.requestID)}, want one starting with 'req_'`,
  );

  const wrong = new OpenAI({ baseURL: BASE_URL, apiKey: "aic_000000000000_wrong", maxRetries: 0 });
  err = await expectError(
    wrong.chat.completions.create({ model: CHAT_MODEL, messages: [{ role: "user", content: "hi" }] }),
    OpenAI.AuthenticationError,
    "a chat with a wrong API key",
  );
  assert.equal(err.status, 401, `errors: a wrong key gave status ${err.status}, want 401`);
  ok("errors");
}

try {
  console.log(`openai (node) ${VERSION} on node ${process.version} against ${BASE_URL}`);
  await checkPlainChat();
  await checkStreamedChat();
  await checkEmbeddings();
  await checkModels();
  await checkErrors();
  console.log("all SDK checks passed (node)");
} catch (err) {
  console.error(`FAIL: ${err?.stack ?? err}`);
  process.exitCode = 1;
}
