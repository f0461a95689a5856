// `npm run -s bench -- dedup [--json] [--quick] [--scale N] [--one-worker]`
//
// Near-duplicate removal (MinHash LSH, ml/methods/dedup/) through the real sharded activities of
// `dedupCorpus` (prepareCuration → minhashShard per shard → resolveDuplicates) on a file store, each
// phase in its own child process (bench/_dedup-child.ts) so that its peak RSS is its own.
//
// 1. accuracy: documents of the builtin text groups with injected near-duplicates (bench/_dedup-data.ts:
//    1–10 % of characters edited, paragraphs shuffled, boilerplate header/footer added, or all three),
//    written as TWO input files (a copy and its original may sit in different files). Precision:
//    removed documents whose family (original + its copy) keeps a member. Recall at the threshold:
//    removed copies among those whose exact Jaccard similarity to their original is ≥ the threshold
//    (0.8) — the injected truth at that threshold; also over all copies and per kind of edit.
// 2. scale: N short documents (2–3 sentences, 5 % copies with 1 % of characters edited), default
//    1,000,000 (--quick: 20,000), shards of 50,000 rows. Signature throughput with 1 worker process
//    (all shards in one process) and 2 worker processes (half the shards each, at the same time);
//    end-to-end documents/s (prepare + signatures + resolve) and the peak RSS of every phase.
//    `--one-worker` skips the 2-process run (a memory check in half the time).
// Default settings: 5-character shingles, 20 bands × 5 rows, threshold 0.8, seed 1.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MinHashParams } from '../ml/methods/dedup/index.js';
import { loadShingleHash } from '../ml/methods/dedup/index.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import { DedupSettings } from '../schemas/dedup.js';
import { TEXT_CORPUS } from '../schemas/tables.js';
import { buildTable, stringValues } from '../storage/arrow-tables.js';
import { ArtifactStore } from '../storage/artifacts.js';
import { FileStore } from '../storage/file-store.js';
import { decodeParquet, encodeParquet } from '../storage/parquet.js';
import { documentsWithDuplicates, scoreRemoval, shortDocuments } from './_dedup-data.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const json = argv.includes('--json');
const quick = argv.includes('--quick');
const oneWorker = argv.includes('--one-worker');
const flag = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const say = (msg: string) => {
  if (!json) process.stderr.write(`${msg}\n`);
};
const round = (x: number, d = 3) => Number(x.toFixed(d));
const load1 = () => round(loadavg()[0]!, 2);

const SEED = 1;
/** The product's default dedup settings (schemas/dedup.ts): what the bench measures. */
const { ngram, numPerm, bands, rows, threshold, stripPunctuation } = DedupSettings.parse({});
const dedupSettings = { ngram, numPerm, bands, rows, threshold, stripPunctuation };
const PARAMS: MinHashParams = { ...dedupSettings, seed: SEED };
const signatureSettings = {
  ngram: PARAMS.ngram,
  numPerm: PARAMS.numPerm,
  stripPunctuation: PARAMS.stripPunctuation,
  seed: SEED,
};
const SHARD_ROWS = quick ? 5_000 : 50_000;
const ACCURACY_DOCS = quick ? 1_500 : 4_000;
const SCALE_DOCS = Number(flag('--scale') ?? (quick ? 20_000 : 1_000_000));

interface ChildOut<T> {
  result: T;
  seconds: number;
  maxRssMiB: number;
}

/** Runs one phase in a child process; resolves with its JSON line. */
function phase<T>(name: string, store: string, input: unknown, tag: string): Promise<ChildOut<T>> {
  const file = join(store, `..`, `${tag}.json`);
  writeFileSync(file, JSON.stringify(input));
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
        join(ROOT, 'bench', '_dedup-child.ts'),
        name,
        store,
        file,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${name} child exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as ChildOut<T>);
    });
  });
}

interface Prepared {
  shards: ArtifactRef[];
  rows: { input: number; filtered: number };
}
interface Resolved {
  corpus: ArtifactRef;
  kept: number;
  duplicates: number;
  candidatePairs: number;
  verifiedPairs: number;
  clusters: number;
}

function writeInput(dir: string, name: string, cols: { ids: string[]; groups: string[]; texts: string[] }) {
  const path = join(dir, name);
  writeFileSync(
    path,
    encodeParquet(
      buildTable(TEXT_CORPUS, { id: cols.ids, group: cols.groups, text: cols.texts, source: cols.groups }),
    ),
  );
  return path;
}

async function accuracy(work: string) {
  const hash = await loadShingleHash();
  say(`accuracy: ${ACCURACY_DOCS} base documents …`);
  const docs = documentsWithDuplicates(ACCURACY_DOCS, 0.3, SEED, PARAMS, hash);
  const store = join(work, 'acc-store');
  const inputs = join(work, 'inputs'); // the allowed input root beside the store
  mkdirSync(inputs, { recursive: true });
  // Alternate rows between two files: a copy and its original often land in different files.
  const half = (parity: number) => {
    const part = docs.filter((_, i) => i % 2 === parity);
    return { ids: part.map((d) => d.id), groups: part.map((d) => d.group), texts: part.map((d) => d.text) };
  };
  const files = [writeInput(inputs, 'acc-a.parquet', half(0)), writeInput(inputs, 'acc-b.parquet', half(1))];
  const t0 = performance.now();
  const prep = await phase<Prepared>(
    'prepare',
    store,
    { inputs: files, shardRows: 1_000, cache: false },
    'acc-prepare',
  );
  const sig = await phase<ArtifactRef[]>(
    'signatures',
    store,
    { shards: prep.result.shards, settings: signatureSettings },
    'acc-signatures',
  );
  const res = await phase<Resolved>(
    'resolve',
    store,
    { shards: prep.result.shards, signatures: sig.result, dedup: dedupSettings, seed: SEED, cache: false },
    'acc-resolve',
  );
  const seconds = (performance.now() - t0) / 1000;
  const corpus = decodeParquet(
    await new ArtifactStore(new FileStore(store)).read(res.result.corpus),
    'corpus',
  );
  const kept = new Set(stringValues(corpus, 'id'));
  const score = scoreRemoval(docs, kept, PARAMS.threshold);
  return {
    documents: docs.length,
    files: 2,
    ...score,
    precision: round(score.precision, 4),
    recallAtThreshold: round(score.recallAtThreshold, 4),
    recallAll: round(score.recallAll, 4),
    candidatePairs: res.result.candidatePairs,
    verifiedPairs: res.result.verifiedPairs,
    clusters: res.result.clusters,
    seconds: round(seconds, 1),
  };
}

async function scale(work: string) {
  say(`scale: generating ${SCALE_DOCS} short documents …`);
  const gen = shortDocuments(SCALE_DOCS, 0.05, SEED);
  const store = join(work, 'scale-store');
  const inputs = join(work, 'inputs');
  mkdirSync(inputs, { recursive: true });
  const file = writeInput(inputs, 'short.parquet', gen);
  const meanChars = gen.texts.reduce((s, t) => s + t.length, 0) / gen.texts.length;
  say(`scale: prepare (load ${load1()}) …`);
  const prep = await phase<Prepared>(
    'prepare',
    store,
    { inputs: [file], shardRows: SHARD_ROWS, cache: false },
    'prepare',
  );
  const shards = prep.result.shards;
  say(`scale: signatures, 1 worker process, ${shards.length} shards (load ${load1()}) …`);
  const load1Before = load1();
  const t1 = performance.now();
  const one = await phase<ArtifactRef[]>(
    'signatures',
    store,
    { shards, settings: signatureSettings },
    'sig-1',
  );
  const oneWall = (performance.now() - t1) / 1000;
  say(`scale: signatures, 2 worker processes (load ${load1()}) …`);
  const load2Before = load1();
  const t2 = performance.now();
  const halves = [shards.filter((_, i) => i % 2 === 0), shards.filter((_, i) => i % 2 === 1)];
  const two = oneWorker
    ? []
    : await Promise.all(
        halves.map((h, w) =>
          phase<ArtifactRef[]>('signatures', store, { shards: h, settings: signatureSettings }, `sig-2-${w}`),
        ),
      );
  const twoWall = (performance.now() - t2) / 1000;
  say(`scale: resolve (load ${load1()}) …`);
  const res = await phase<Resolved>(
    'resolve',
    store,
    { shards, signatures: one.result, dedup: dedupSettings, seed: SEED, cache: false },
    'resolve',
  );
  const endToEnd1 = prep.seconds + one.seconds + res.seconds;
  const endToEnd2 = prep.seconds + twoWall + res.seconds;
  return {
    documents: SCALE_DOCS,
    meanChars: round(meanChars, 1),
    injectedCopies: gen.copies,
    shards: shards.length,
    shardRows: SHARD_ROWS,
    removed: res.result.duplicates,
    candidatePairs: res.result.candidatePairs,
    verifiedPairs: res.result.verifiedPairs,
    signatures: {
      oneWorker: { seconds: round(oneWall, 1), docsPerSec: Math.round(SCALE_DOCS / oneWall), load1Before },
      twoWorkers: oneWorker
        ? null
        : {
            seconds: round(twoWall, 1),
            docsPerSec: Math.round(SCALE_DOCS / twoWall),
            load1Before: load2Before,
            perWorkerSeconds: two.map((t) => round(t.seconds, 1)),
          },
      speedup: oneWorker ? null : round(oneWall / twoWall, 2),
    },
    endToEnd: {
      oneWorkerDocsPerSec: Math.round(SCALE_DOCS / endToEnd1),
      twoWorkersDocsPerSec: oneWorker ? null : Math.round(SCALE_DOCS / endToEnd2),
      prepareSeconds: round(prep.seconds, 1),
      resolveSeconds: round(res.seconds, 1),
    },
    peakRssMiB: {
      prepare: prep.maxRssMiB,
      signaturesOneWorker: one.maxRssMiB,
      signaturesTwoWorkers: two.map((t) => t.maxRssMiB),
      resolve: res.maxRssMiB,
      max: Math.max(prep.maxRssMiB, one.maxRssMiB, res.maxRssMiB, ...two.map((t) => t.maxRssMiB)),
    },
  };
}

const work = mkdtempSync(join(tmpdir(), 'retort-bench-dedup-'));
try {
  const startLoad = load1();
  const acc = await accuracy(work);
  say(
    `accuracy: precision ${acc.precision}, recall@0.8 ${acc.recallAtThreshold}, recall (all copies) ${acc.recallAll}`,
  );
  const sc = await scale(work);
  const out = {
    bench: 'dedup',
    quick,
    settings: { ...dedupSettings, seed: SEED },
    machine: { cpus: cpus().length, load1AtStart: startLoad, load1AtEnd: load1() },
    accuracy: acc,
    scale: sc,
  };
  console.log(JSON.stringify(out, null, json ? 0 : 2));
} finally {
  rmSync(work, { recursive: true, force: true });
}
