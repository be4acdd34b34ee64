/** The command line's help for each command, and its progress lines on long inputs. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { repoRoot, sentenceMinilmAvailable, sentenceMinilmDir } from './helpers/fixtures.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'dist', 'lib', 'cli.js');
const commands = ['rank', 'search', 'serve', 'score', 'quantize', 'info'];

const work = mkdtempSync(join(tmpdir(), 'crossrank-cli-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

test('--help, -h and help print the usage of every command and exit 0', async (t) => {
  for (const flag of ['--help', '-h', 'help']) {
    const { stdout, stderr } = await run('node', [cli, flag]);
    t.is(stderr, '');
    for (const command of commands) t.regex(stdout, new RegExp(`^  crossrank ${command}\\b`, 'm'), `${flag} lists ${command}`);
  }
});

test('each command --help prints that command\'s usage, not "Unknown option"', async (t) => {
  for (const command of commands) {
    for (const flag of ['--help', '-h']) {
      // Other options beside --help are not parsed: help wins.
      const { stdout, stderr } = await run('node', [cli, command, '--query', 'x', flag]);
      t.is(stderr, '', `${command} ${flag}`);
      t.true(stdout.startsWith(`Usage:\n  crossrank ${command} `) || stdout.startsWith(`Usage:\n  crossrank ${command}\n`), stdout);
      const others = commands.filter((c) => c !== command);
      for (const other of others) t.notRegex(stdout, new RegExp(`crossrank ${other}\\b`), `${command} ${flag} shows only ${command}`);
      t.regex(stdout, /\n {6}\S/, `${command} ${flag} describes the command`);
    }
  }
});

// 1,000 documents and more print progress on stderr as score does (a line every
// 10 s and one at the end when stderr is not a terminal).
const manyDocuments = Array.from({ length: 1200 }, (_, i) => `passage number ${i} about topic ${i % 17}`);

test('rank prints progress on a long input', async (t) => {
  const docs = join(work, 'many.txt');
  writeFileSync(docs, `${manyDocuments.join('\n')}\n`);
  const { stdout, stderr } = await run('node', [cli, 'rank', '--query', 'topic 3', '--docs', docs, '--top-k', '2', '--json']);
  t.regex(stderr, /^scored 1200\/1200 pairs, [\d.]+ pairs\/s, ETA /m);
  t.is((JSON.parse(stdout) as { results: unknown[] }).results.length, 2);
  // A short input stays quiet.
  const short = join(work, 'few.txt');
  writeFileSync(short, 'one\ntwo\n');
  const quiet = await run('node', [cli, 'rank', '--query', 'topic 3', '--docs', short, '--json']);
  t.is(quiet.stderr, '');
});

test('search prints progress while embedding and reranking a long input', async (t) => {
  if (!sentenceMinilmAvailable()) return t.pass('fixture missing outside CI');
  const docs = join(work, 'many-search.txt');
  writeFileSync(docs, `${manyDocuments.join('\n')}\n`);
  const { stderr } = await run('node', [
    cli, 'search', '--encoder', sentenceMinilmDir, '--query', 'topic 3', '--docs', docs, '--retrieve-k', '1000', '--json',
  ]);
  t.regex(stderr, /^embedded 1200\/1200 documents, [\d.]+ documents\/s, ETA /m);
  t.regex(stderr, /^scored 1000\/1000 pairs, /m);
});
