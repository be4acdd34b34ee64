/**
 * Run by the hub tests in a process of its own (its environment is the
 * test's to set: HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN, HF_HOME...):
 *   node --import=tsx hub-child.ts '{"id", "kind"?, "options"?, "pairs"?, "download"?}'
 * Loads the model (or only downloads it), scores the pairs, and prints one
 * JSON line: what it loaded and whether load() returned it ready, or the error.
 */
import { CrossEncoder, downloadModel, type LoadOptions, SentenceEncoder } from '../../lib/index.js';

interface Job {
  id: string;
  kind?: 'cross-encoder' | 'sentence-encoder';
  options?: LoadOptions;
  pairs?: [string, string][];
  download?: boolean;
}

const job = JSON.parse(process.argv[2]!) as Job;
try {
  if (job.download) {
    const result = await downloadModel(job.id, job.options);
    console.log(JSON.stringify({ commit: result.commit, path: result.dir, downloaded: result.downloaded }));
  } else {
    const model = job.kind === 'sentence-encoder' ? SentenceEncoder.load(job.id, job.options) : CrossEncoder.load(job.id, job.options);
    let loadedAtOnce = true;
    try {
      void model.config;
    } catch {
      loadedAtOnce = false;
    }
    await model.ready;
    const scores =
      model instanceof CrossEncoder
        ? await model.predict(job.pairs ?? [['a', 'b']], { activation: 'none' })
        : await model.embed((job.pairs ?? [['a', 'b']]).map((p) => p[0]));
    console.log(
      JSON.stringify({ loadedAtOnce, name: model.config.name, commit: model.config.commit, path: model.config.path, scores: Array.from(scores) }),
    );
    model.dispose();
  }
} catch (error) {
  const e = error as { name: string; message: string; reason?: string; status?: number; code?: string };
  console.log(JSON.stringify({ error: { name: e.name, message: e.message, reason: e.reason, status: e.status, code: e.code } }));
}
