/**
 * rank() with maxTokensPerDoc: a long document is scored by its best window.
 * Each window's score is checked against predict() on the window's own text
 * (document.slice(start, end)), so the windows, their spans and the maximum
 * are all checked, on the repository's offline model.
 */
import test from 'ava';

import { bestWindows, CrossEncoder, offlineModelPath } from '../lib/index.js';

// A short maxLength makes several windows out of a paragraph.
const maxLength = 48;
// The repository's offline reranker: the hub default cannot be downloaded in CI.
const model = CrossEncoder.load(offlineModelPath(), { maxLength, threads: 2 });
test.after.always(() => model.dispose());

const query = 'what does a reranker do';
const filler =
  'The museum opens at nine in the morning and closes at six in the evening, except on public holidays. ' +
  'Tickets can be bought online or at the entrance, and children under twelve enter for free. ';
const relevant = 'A reranker reads the query and each retrieved passage together and reorders the passages by relevance.';
const documents = [
  `${filler}${filler}${relevant}`, // the answer is at the end, past the first window
  'Paris is the capital of France.',
  '',
  `naïve café 🙂👍🏽 ${filler}東京タワー ${relevant} ${filler}`,
];

test('documents that fit give one window and the same score as without windows', async (t) => {
  const short = ['Paris is the capital of France.', relevant, ''];
  const plain = await model.rank(query, short);
  const windowed = await model.rank(query, short, { maxTokensPerDoc: 4096 });
  t.deepEqual(
    windowed.map(({ index, score }) => ({ index, score })),
    plain,
  );
  for (const result of windowed) {
    t.deepEqual(result.window, { index: 0, count: 1, start: 0, end: short[result.index]!.length });
  }
});

test('a long document gets its best window, and each window scores as its own text would', async (t) => {
  const results = await model.rank(query, documents, { maxTokensPerDoc: 4096, windowOverlap: 8, returnDocuments: true });
  t.is(results.length, documents.length);
  for (const result of results) {
    const document = documents[result.index]!;
    const window = result.window!;
    t.truthy(window, `document ${result.index} reports its window`);
    if (document.length === 0) {
      t.deepEqual(window, { index: 0, count: 1, start: 0, end: 0 });
      continue;
    }
    // The winner's text, scored alone, gives the document's score.
    const winnerText = document.slice(window.start, window.end);
    const [alone] = await model.predict([[query, winnerText]]);
    t.true(Math.abs(alone! - result.score) <= 1e-6, `document ${result.index}: ${alone} vs ${result.score}`);
    t.true(window.index < window.count);
  }
  const long = results.find((r) => r.index === 0)!;
  t.true(long.window!.count >= 3, `the long document has ${long.window!.count} windows`);
});

test('the score is the maximum over the windows, and the winner is the argmax', async (t) => {
  // Sentences of exactly one window's tokens each (one token per word) and no
  // overlap: the windows are the sentences, which predict() can score alone.
  const words = ['a', 'search', 'reads', 'the', 'query', 'and', 'passage', 'museum', 'opens', 'at', 'nine', 'order'];
  for (const word of words) t.is(model.tokenize([['', word]]).ids.length, 4, `${word} is one token`);
  const queryTokens = model.tokenize([[query, '']]).ids.length - 3;
  const windowTokens = maxLength - 3 - queryTokens;
  const sentences = Array.from({ length: 5 }, (_, s) =>
    Array.from({ length: windowTokens }, (_, w) => words[(s * 7 + w * (s + 1)) % words.length]).join(' '),
  );
  const document = sentences.join(' ');
  const [result] = await model.rank(query, [document], { maxTokensPerDoc: 4096, windowOverlap: 0 });
  const alone = await model.predict(sentences.map((sentence) => [query, sentence] as const));
  const best = alone.indexOf(Math.max(...alone));
  t.is(result!.window!.count, sentences.length);
  t.is(result!.window!.index, best);
  t.true(Math.abs(result!.score - alone[best]!) <= 1e-6, `${result!.score} vs ${alone[best]}`);
  t.is(document.slice(result!.window!.start, result!.window!.end), sentences[best]!);
});

test('maxTokensPerDoc reads only the first tokens of a document', async (t) => {
  // 40 tokens: the filler only; the answer lies beyond them.
  const [cut] = await model.rank(query, [documents[0]!], { maxTokensPerDoc: 40 });
  const [full] = await model.rank(query, [documents[0]!], { maxTokensPerDoc: 4096 });
  t.true(cut!.score < full!.score);
  t.false(documents[0]!.slice(0, cut!.window!.end).includes('reranker'));
});

test('window options are checked', async (t) => {
  await t.throwsAsync(model.rank(query, ['a'], { maxTokensPerDoc: 0 }), { instanceOf: RangeError, message: /maxTokensPerDoc/ });
  await t.throwsAsync(model.rank(query, ['a'], { maxTokensPerDoc: 1.5 }), { instanceOf: TypeError, message: /maxTokensPerDoc/ });
  await t.throwsAsync(model.rank(query, ['a'], { windowOverlap: 8 }), { instanceOf: TypeError, message: /needs options.maxTokensPerDoc/ });
  // The token cap counts every window.
  await t.throwsAsync(model.rank(query, [documents[0]!], { maxTokensPerDoc: 4096, maxTokensPerCall: 100 }), {
    message: /token/,
  });
});

test('a scheduler gets the same results from tokenizeWindowsAsync, runBatch and bestWindows', async (t) => {
  const options = { maxTokensPerDoc: 4096, windowOverlap: 8, activation: 'none' as const };
  const ranked = await model.rank(query, documents, options);
  const encoded = await model.tokenizeWindowsAsync(query, documents, options);
  const logits = await model.runBatch(encoded.ids, encoded.typeIds, encoded.lengths);
  const { scores, windows } = bestWindows(encoded, logits, documents.length);
  for (const result of ranked) {
    t.is(scores[result.index], result.score);
    t.deepEqual(windows[result.index], result.window);
  }
  await t.throwsAsync(async () => model.tokenizeWindowsAsync(query, documents, {} as { maxTokensPerDoc: number }), {
    instanceOf: TypeError,
  });
  t.throws(() => bestWindows(encoded, logits.subarray(1), documents.length), { instanceOf: RangeError });
});
