/** `crossrank score`: streaming, resuming after a kill, shards, bad input. */
import { execFile, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { CrossEncoder } from '../lib/index.js';
import { scoreFile } from '../lib/score.js';
import { minilmAvailable, minilmDir, repoRoot, sharedDataAvailable, tinyDir } from './helpers/fixtures.js';
import { trecPairs } from './helpers/trec.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'dist', 'lib', 'cli.js');
const haveFixtures = minilmAvailable() && sharedDataAvailable();
const serial = haveFixtures ? test.serial : test.skip;

const PAIRS = 120;
const dir = mkdtempSync(join(tmpdir(), 'crossrank-score-'));
const input = join(dir, 'pairs.jsonl');
const clean = join(dir, 'clean.jsonl');
let cleanText = '';

// Both input forms, a blank line (skipped, but counted in line numbers) and ids passed through.
function writeInput(): void {
  const lines = trecPairs()
    .slice(0, PAIRS)
    .map(([query, document], i) => JSON.stringify(i % 3 === 0 ? [query, document] : { query, document, id: `p${i}` }));
  lines.splice(10, 0, '');
  writeFileSync(input, `${lines.join('\n')}\n`);
}

const score = (output: string, ...extra: string[]) =>
  run('node', [cli, 'score', '--model', minilmDir, '--input', input, '--output', output, ...extra]);

const outputLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { line: number; id?: string; score: number });

test.before(async () => {
  if (!haveFixtures) return;
  writeInput();
  await score(clean, '--chunk-pairs', '64');
  cleanText = readFileSync(clean, 'utf8');
});

serial('a clean run writes one line per pair, in input order, with the scores of predict', async (t) => {
  const lines = outputLines(cleanText);
  t.is(lines.length, PAIRS);
  t.deepEqual(lines.map((l) => l.line), [...Array.from({ length: 10 }, (_, i) => i + 1), ...Array.from({ length: PAIRS - 10 }, (_, i) => i + 12)]);
  t.is(lines[1]!.id, 'p1');
  t.false('id' in lines[0]!);
  const model = CrossEncoder.load(minilmDir);
  const expected = await model.predict(trecPairs().slice(0, PAIRS));
  model.dispose();
  t.deepEqual(Float32Array.from(lines.map((l) => l.score)), expected);
});

serial('killed with SIGKILL mid-run, a rerun resumes and the output equals a clean run', async (t) => {
  const output = join(dir, 'killed.jsonl');
  const child = spawn('node', [cli, 'score', '--model', minilmDir, '--input', input, '--output', output, '--chunk-pairs', '16'], {
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const deadline = Date.now() + 60_000;
  const written = (): number => {
    try {
      return readFileSync(output, 'utf8').split('\n').length - 1;
    } catch {
      return 0;
    }
  };
  while (written() < 32 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  child.kill('SIGKILL');
  await exited;
  const before = written();
  t.log(`killed after ${before} of ${PAIRS} lines`);
  t.true(before >= 32 && before < PAIRS, `the kill landed mid-run (${before} lines)`);

  const { stdout } = await score(output, '--chunk-pairs', '16');
  t.regex(stdout, /resumed after input line \d+/);
  t.is(readFileSync(output, 'utf8'), cleanText);
});

serial('a partial last line (a write cut by a crash) is dropped and redone', async (t) => {
  const output = join(dir, 'partial.jsonl');
  const keep = cleanText.split('\n').slice(0, 50).join('\n');
  writeFileSync(output, `${keep}\n{"line":5`);
  const { stdout } = await score(output);
  t.regex(stdout, new RegExp(`scored ${PAIRS - 50} pairs .*resumed after input line 51`));
  t.is(readFileSync(output, 'utf8'), cleanText);

  const done = await score(output);
  t.regex(done.stdout, /scored 0 pairs/);
  t.is(readFileSync(output, 'utf8'), cleanText, 'a finished output is left as it is');
});

serial('--shard i/n takes every n-th line; the shards together are the whole job', async (t) => {
  const shards = [];
  for (let i = 0; i < 3; i++) {
    const output = join(dir, `shard-${i}.jsonl`);
    await score(output, '--shard', `${i}/3`);
    const lines = outputLines(readFileSync(output, 'utf8'));
    for (const l of lines) t.is((l.line - 1) % 3, i, `line ${l.line} in shard ${i}`);
    shards.push(...lines);
  }
  shards.sort((a, b) => a.line - b.line);
  t.deepEqual(shards, outputLines(cleanText));
});

test('bad input and bad flags get errors naming the file, line or flag', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'crossrank-score-bad-'));
  const bad = join(work, 'bad.jsonl');
  const out = join(work, 'out.jsonl');
  const cases: [string, RegExp][] = [
    ['["q", "d"]\n{"query": "q"\n', /bad\.jsonl:2: not valid JSON/],
    ['["q", "d"]\n{"query": "q", "document": 3}\n', /bad\.jsonl:2: field "document" must be a string/],
    ['["q", "d"]\n["q"]\n', /bad\.jsonl:2: expected \["query", "document"\]/],
  ];
  for (const [text, message] of cases) {
    writeFileSync(bad, text);
    const error = await t.throwsAsync(run('node', [cli, 'score', '--model', tinyDir, '--input', bad, '--output', out]));
    t.is((error as { code?: number }).code, 1);
    t.regex((error as { stderr?: string }).stderr ?? '', message);
  }

  writeFileSync(bad, '["q", "d"]\n');
  for (const shard of ['3/3', '1', 'a/b', '0/0', '1/-2']) {
    const error = await t.throwsAsync(run('node', [cli, 'score', '--model', tinyDir, '--input', bad, '--output', out, '--shard', shard]));
    t.is((error as { code?: number }).code, 2);
    t.regex((error as { stderr?: string }).stderr ?? '', /--shard must be i\/n with 0 <= i < n/);
  }
  const missing = await t.throwsAsync(run('node', [cli, 'score', '--model', tinyDir, '--input', join(work, 'nope.jsonl'), '--output', out]));
  t.regex((missing as { stderr?: string }).stderr ?? '', /--input .*nope\.jsonl does not exist/);

  const foreign = join(work, 'foreign.jsonl');
  writeFileSync(foreign, 'hello\n');
  const error = await t.throwsAsync(run('node', [cli, 'score', '--model', tinyDir, '--input', bad, '--output', foreign]));
  t.regex((error as { stderr?: string }).stderr ?? '', /cannot resume: the last line of .*foreign\.jsonl is not a crossrank score line/);

  // The two-label tiny model writes a row of scores per pair.
  const ok = join(work, 'ok.jsonl');
  await run('node', [cli, 'score', '--model', tinyDir, '--input', bad, '--output', ok]);
  const [line] = outputLines(readFileSync(ok, 'utf8')) as unknown as { line: number; scores: number[] }[];
  t.is(line!.line, 1);
  t.is(line!.scores.length, 2);
  appendFileSync(bad, '["q2", "d2"]\n');
  await run('node', [cli, 'score', '--model', tinyDir, '--input', bad, '--output', ok]);
  t.deepEqual(outputLines(readFileSync(ok, 'utf8')).map((l) => l.line), [1, 2], 'an input that grew is continued');
});

test('the progress total counts the pairs to score: blank lines, other shards and resumed lines are left out', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'crossrank-score-progress-'));
  const file = join(work, 'pairs.jsonl');
  // 6 pairs, 3 blank or whitespace-only lines, and no newline at the end.
  writeFileSync(file, '["q", "a"]\n\n["q", "b"]\n   \n["q", "c"]\n["q", "d"]\n\n["q", "e"]\n["q", "f"]');
  const model = CrossEncoder.load(tinyDir);
  t.teardown(() => model.dispose());
  const totals: number[] = [];
  const progress = { start: (total: number) => totals.push(total), update: () => {}, finish: () => {} };
  const whole = await scoreFile(model, { input: file, output: join(work, 'all.jsonl'), progress });
  t.is(whole.scored, 6);
  // Shard 1/2 takes lines 2, 4, 6, 8: two blank, two pairs.
  const half = await scoreFile(model, { input: file, output: join(work, 'half.jsonl'), shard: { index: 1, count: 2 }, progress });
  t.is(half.scored, 2);
  // Resuming after line 5 leaves lines 6, 8 and 9.
  const resumed = join(work, 'resumed.jsonl');
  writeFileSync(resumed, readFileSync(join(work, 'all.jsonl'), 'utf8').split('\n').slice(0, 3).join('\n') + '\n');
  const rest = await scoreFile(model, { input: file, output: resumed, progress });
  t.is(rest.scored, 3);
  t.deepEqual(totals, [6, 2, 3]);
});
