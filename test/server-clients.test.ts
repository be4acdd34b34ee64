/**
 * Real rerank clients, unchanged, against the server on loopback: the Cohere
 * SDKs (PyPI `cohere` v1 and v2 clients, npm `cohere-ai`), LiteLLM's cohere/,
 * infinity/, jina_ai/ and huggingface/ rerank providers with only api_base,
 * and TEI's and Infinity's bodies. Each must give exactly CrossEncoder.rank's
 * results. The Python clients live in .cache/client-venv, which
 * scripts/setup-client-venv.sh makes from test/clients/requirements.txt.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test, { type ExecutionContext } from 'ava';
import { CohereClient, CohereClientV2 } from 'cohere-ai';

import { CrossEncoder, type RankResult } from '../lib/index.js';
import type { ServerOptions } from '../lib/server/server.js';
import { minilmAvailable, minilmDir, repoRoot, sharedDataAvailable } from './helpers/fixtures.js';
import { startServer, until } from './helpers/server.js';
import { trecPairs } from './helpers/trec.js';

const run = promisify(execFile);
const haveFixtures = minilmAvailable() && sharedDataAvailable();
const serial = haveFixtures ? test.serial : test.skip;
const minilm = haveFixtures ? CrossEncoder.load(minilmDir) : undefined;
test.after.always(() => minilm?.dispose());

const start = async (t: ExecutionContext, options: ServerOptions = {}): Promise<string> => (await startServer(t, minilm!, options)).base;

const post = async (base: string, path: string, body: unknown): Promise<Response> =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

/** Fifteen TREC passages of one query: the inputs every client ranks. */
function inputs(): { query: string; documents: string[] } {
  const pairs = trecPairs().slice(40, 55);
  return { query: pairs[0]![0], documents: pairs.map(([, document]) => document) };
}

const TOP_N = 5;

const asExpected = (ranked: RankResult[]): { index: number; relevance_score: number }[] =>
  ranked.map((r) => ({ index: r.index, relevance_score: r.score }));

serial('Python: the Cohere SDK (v1 and v2 clients) and LiteLLM cohere/, infinity/, jina_ai/, huggingface/ get rank()\'s results', async (t) => {
  // Makes the venv on first use (pip from the registry); a no-op once it matches the requirements.
  await run('bash', [join(repoRoot, 'scripts', 'setup-client-venv.sh')], { timeout: 15 * 60_000 });
  const base = await start(t);
  const { query, documents } = inputs();
  const expected = asExpected(await minilm!.rank(query, documents, { topK: TOP_N }));
  const spec = join(mkdtempSync(join(tmpdir(), 'crossrank-clients-')), 'input.json');
  writeFileSync(spec, JSON.stringify({ query, documents, top_n: TOP_N }));
  const python = join(repoRoot, '.cache', 'client-venv', 'bin', 'python');
  const { stdout } = await run(python, [join(repoRoot, 'test', 'clients', 'python_clients.py'), base, spec], {
    timeout: 180_000,
    env: { ...process.env, LITELLM_LOCAL_MODEL_COST_MAP: 'True' },
  });
  const answers = JSON.parse(stdout) as Record<string, unknown>;
  t.deepEqual(Object.keys(answers), [
    'cohere.Client(base_url).rerank',
    'cohere.ClientV2(base_url).rerank',
    "litellm.rerank(model='cohere/crossrank', api_base)",
    "litellm.rerank(model='infinity/crossrank', api_base)",
    "litellm.rerank(model='jina_ai/crossrank', api_base)",
    "litellm.rerank(model='huggingface/crossrank', api_base)",
  ]);
  for (const [client, answer] of Object.entries(answers)) t.deepEqual(answer, expected, client);
});

serial('npm cohere-ai: CohereClient.rerank (v1) and CohereClientV2.rerank get rank()\'s results', async (t) => {
  const base = await start(t);
  const { query, documents } = inputs();
  const expected = asExpected(await minilm!.rank(query, documents, { topK: TOP_N }));
  const v1 = await new CohereClient({ token: 'unused', environment: base }).rerank({ model: 'crossrank', query, documents, topN: TOP_N });
  t.deepEqual(v1.results.map((r) => ({ index: r.index, relevance_score: r.relevanceScore })), expected);
  const v2 = await new CohereClientV2({ token: 'unused', environment: base }).rerank({
    model: 'crossrank',
    query,
    documents,
    topN: TOP_N,
    maxTokensPerDoc: 4096,
  });
  t.deepEqual(v2.results.map((r) => ({ index: r.index, relevance_score: r.relevanceScore })), expected);
});

serial('/v2/rerank: Cohere\'s reply and errors ({message}; 400 for bad or too large input, 429 when overloaded)', async (t) => {
  const base = await start(t, { maxDocuments: 400, maxBatchTokens: 256, maxQueueMs: 300, requestTimeoutMs: 180_000 });
  const { query, documents } = inputs();
  const reply = (await (await post(base, '/v2/rerank', { model: 'm', query, documents, top_n: 2, max_tokens_per_doc: 512 })).json()) as {
    id: string;
    results: { index: number; relevance_score: number }[];
    meta: { api_version: { version: string }; billed_units: { search_units: number } };
  };
  t.is(typeof reply.id, 'string');
  t.deepEqual(reply.results, asExpected(await minilm!.rank(query, documents, { topK: 2 })));
  t.deepEqual(reply.meta, { api_version: { version: '2' }, billed_units: { search_units: 1 } });

  const cases: [unknown, number, RegExp][] = [
    [{ query, documents, max_tokens_per_doc: 0 }, 400, /`max_tokens_per_doc` must be a positive integer, got number 0/],
    [{ query, documents, max_tokens_per_doc: 'long' }, 400, /`max_tokens_per_doc` must be a positive integer/],
    [{ query }, 400, /missing field `documents`/],
    [{ query, documents: Array(401).fill('d') }, 400, /`documents` holds 401 items; this server accepts at most 400/],
  ];
  for (const [body, status, message] of cases) {
    const response = await post(base, '/v2/rerank', body);
    t.is(response.status, status, JSON.stringify(body).slice(0, 80));
    const error = (await response.json()) as Record<string, unknown>;
    t.deepEqual(Object.keys(error), ['message']);
    t.regex(String(error['message']), message);
  }

  // Overloaded: a long request holds the engine, the next one is refused at once.
  const long = post(base, '/predict', { pairs: trecPairs().slice(0, 400) });
  await until(async () => /^crossrank_queued_pairs [1-9]/m.test(await (await fetch(`${base}/metrics`)).text()), 'the long request to be queued');
  const refused = await post(base, '/v2/rerank', { query, documents: trecPairs().slice(500, 520).map(([, d]) => d) });
  t.is(refused.status, 429);
  t.regex(refused.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
  t.regex(((await refused.json()) as { message: string }).message, /overloaded/);
  t.is((await long).status, 200);
});

serial('TEI and Infinity bodies: /rerank with texts or documents, /predict with inputs, /info\'s model_type', async (t) => {
  const base = await start(t);
  const { query, documents } = inputs();
  const ranked = await minilm!.rank(query, documents);

  // Infinity: `documents` on /rerank, each document returned as a plain string.
  const infinity = (await (await post(base, '/rerank', { model: 'm', query, documents, top_n: 3, return_documents: true })).json()) as {
    object: string;
    results: { index: number; relevance_score: number; document: string }[];
    usage: { prompt_tokens: number; total_tokens: number };
  };
  t.is(infinity.object, 'rerank');
  t.deepEqual(infinity.results, ranked.slice(0, 3).map((r) => ({ index: r.index, relevance_score: r.score, document: documents[r.index] })));
  t.true(infinity.usage.total_tokens > 0);

  // TEI: `texts` on /rerank (top_n as LiteLLM's Hugging Face provider sends it).
  const tei = (await (await post(base, '/rerank', { query, texts: documents, top_n: 4 })).json()) as { index: number; score: number }[];
  t.deepEqual(tei, ranked.slice(0, 4).map((r) => ({ index: r.index, score: r.score })));

  // TEI /predict: one pair → a list of {score, label}; a list of pairs → one list per pair.
  const pairs = documents.slice(0, 3).map((d): [string, string] => [query, d]);
  const scores = await minilm!.predict(pairs);
  const logits = await minilm!.predict(pairs, { activation: 'none' });
  const label = minilm!.config.id2label[0] ?? 'LABEL_0';
  t.deepEqual(await (await post(base, '/predict', { inputs: pairs[0] })).json(), [{ score: scores[0], label }]);
  t.deepEqual(
    await (await post(base, '/predict', { inputs: pairs, raw_scores: true })).json(),
    Array.from(logits, (score) => [{ score, label }]),
  );
  const single = await post(base, '/predict', { inputs: 'one text' });
  t.is(single.status, 400);
  t.regex(((await single.json()) as { error: string }).error, /a cross-encoder scores pairs/);
  const badPair = await post(base, '/predict', { inputs: [['a', 'b'], ['c']] });
  t.regex(((await badPair.json()) as { error: string }).error, /`inputs\[1\]` must be an array of two strings/);

  const info = (await (await fetch(`${base}/info`)).json()) as { model_type: unknown };
  t.deepEqual(info.model_type, { reranker: { id2label: minilm!.config.id2label, label2id: { [label]: 0 } } });
});
