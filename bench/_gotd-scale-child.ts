// One measurement of bench/gotd-scale.ts in a fresh process (so that its peak RSS is its own):
//   node --import tsx bench/_gotd-scale-child.ts scale --candidates N --targets n --dim d [--seed s]
//   node --import tsx bench/_gotd-scale-child.ts agreement --candidates N --targets n --dim d --chunks R
// Calls the GOT-D math directly (ml/methods/gotd/) and prints one JSON line.
import { parseArgs } from 'node:util';
import { type GotdScores, selectWarmupData } from '../ml/methods/gotd/index.js';
import { initBackend } from '../workers/backend.js';
import { rareShare, syntheticPool, syntheticTarget } from './_gotd-data.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    candidates: { type: 'string' },
    targets: { type: 'string', default: '1000' },
    dim: { type: 'string', default: '64' },
    chunks: { type: 'string', default: '4' },
    seed: { type: 'string', default: '0' },
    budget: { type: 'string', default: '0.02' },
  },
});
const mode = positionals[0];
const N = Number(values.candidates);
const n = Number(values.targets);
const dim = Number(values.dim);
const seed = Number(values.seed);
const budget = Math.max(1, Math.round(Number(values.budget) * N));

const backend = await initBackend();
const t0 = performance.now();
const pool = syntheticPool(N, dim, seed);
const target = syntheticTarget(n, dim, seed);
const generateS = (performance.now() - t0) / 1000;
const groupOf = new Map(pool.ids.map((id, i) => [id, pool.groups[i]!]));
const group = (id: string) => groupOf.get(id)!;
const rssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);

function timed(strategy: 'auto' | 'exact' | 'chunked', chunks?: number): { r: GotdScores; s: number } {
  const start = performance.now();
  const r = selectWarmupData(target, pool, { budget, strategy, ...(chunks ? { chunks } : {}), seed });
  return { r, s: (performance.now() - start) / 1000 };
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

if (mode === 'scale') {
  const rssBefore = rssMiB();
  const { r, s } = timed('auto');
  console.log(
    JSON.stringify({
      candidates: N,
      targets: n,
      dim,
      budget,
      strategy: r.report.mode,
      chunks: r.report.chunks,
      wall_s: round(s, 2),
      generate_s: round(generateS, 2),
      iterations: r.report.iterations,
      converged: r.report.converged,
      marginal_error: r.report.marginalError,
      peak_rss_mib: rssMiB(),
      rss_after_data_mib: rssBefore,
      rare_share_selected: round(rareShare(r.selection, group)),
      backend: backend.name,
    }),
  );
} else if (mode === 'agreement') {
  const chunks = Number(values.chunks);
  const exact = timed('exact');
  const chunked = timed('chunked', chunks);
  // Spearman over all candidates: Pearson correlation of the ranks (ids align by id, not position).
  const rankOf = (r: GotdScores) => new Map(r.ids.map((id, k) => [String(id), r.rank[k]!]));
  const re = rankOf(exact.r);
  const rc = rankOf(chunked.r);
  let sxy = 0;
  let sxx = 0;
  const mean = (N - 1) / 2;
  for (const [id, a] of re) {
    const b = rc.get(id)!;
    sxy += (a - mean) * (b - mean);
    sxx += (a - mean) ** 2;
  }
  const overlap = (k: number) => {
    const top = (r: GotdScores) =>
      new Set(
        Array.from(r.ids.keys())
          .filter((i) => r.rank[i]! < k)
          .map((i) => String(r.ids[i])),
      );
    const a = top(exact.r);
    let common = 0;
    for (const id of top(chunked.r)) if (a.has(id)) common++;
    return round(common / k);
  };
  const ks = [0.005, 0.01, 0.02, 0.05].map((f) => Math.max(1, Math.round(f * N)));
  const topK = (r: GotdScores, k: number) =>
    Array.from(r.ids.keys())
      .filter((i) => r.rank[i]! < k)
      .map((i) => r.ids[i]!);
  console.log(
    JSON.stringify({
      candidates: N,
      targets: n,
      dim,
      chunks,
      exact_s: round(exact.s, 2),
      chunked_s: round(chunked.s, 2),
      spearman: round(sxy / sxx, 4),
      top_k_overlap: Object.fromEntries(ks.map((k) => [String(k), overlap(k)])),
      rare_share: Object.fromEntries(
        ks.map((k) => [
          String(k),
          {
            exact: round(rareShare(topK(exact.r, k), group)),
            chunked: round(rareShare(topK(chunked.r, k), group)),
          },
        ]),
      ),
      converged: { exact: exact.r.report.converged, chunked: chunked.r.report.converged },
      peak_rss_mib: rssMiB(),
    }),
  );
} else {
  console.error(`unknown mode ${mode}: expected scale or agreement`);
  process.exit(2);
}
