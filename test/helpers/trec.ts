/** TREC DL 2020 query-passage pairs from ../shared/data, in file order (query by query, BM25 rank order). */
import { join } from 'node:path';

import { readJson, sharedDataDir } from './fixtures.js';

interface TrecEntry {
  query: string;
  hits: { content: string }[];
}

let pairs: [string, string][] | undefined;

export function trecPairs(): [string, string][] {
  pairs ??= readJson<TrecEntry[]>(join(sharedDataDir, 'trec-dl20', 'retrieve_results_dl20.json')).flatMap((entry) =>
    entry.hits.map((hit): [string, string] => [entry.query, hit.content]),
  );
  return pairs;
}
