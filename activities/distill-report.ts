// distillDataset's report (queue `retort`): the `eval_results` table (spec §2.5), the accuracy table
// (JSON with a markdown rendering), a PNG grid of the synthetic images (one row per class) and an SVG
// loss curve of the matching loss per outer iteration. Memoized like every artifact.
import { deflateSync } from 'node:zlib';
import {
  EVAL_RESULTS,
  DISTILL_LOG,
  type AccuracyRow,
  type DistillReportInput,
  type DistillReportResult,
} from '../schemas/trajectory-matching.js';
import { DISTILLED_IMAGES, contractFingerprint } from '../schemas/tables.js';
import { buildTable, fixedSizeListValues } from '../storage/arrow-tables.js';
import type { ArtifactStore } from '../storage/artifacts.js';
import { decodeValidated, encodeParquet } from '../storage/parquet.js';
import { memoized } from './memo.js';

const CRC_TABLE = Array.from({ length: 256 }, (_x, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** 8-bit grayscale PNG of `gray` (h rows of w bytes). Deterministic bytes (no timestamps). */
export function encodeGrayPng(gray: Uint8Array, w: number, h: number): Uint8Array {
  const raw = new Uint8Array(h * (w + 1));
  for (let y = 0; y < h; y++) raw.set(gray.subarray(y * w, (y + 1) * w), y * (w + 1) + 1); // filter 0
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, w);
  v.setUint32(4, h);
  ihdr.set([8, 0, 0, 0, 0], 8); // bit depth 8, grayscale, deflate, filter 0, no interlace
  const parts = [
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Grid of images (class-major rows of `perRow`), each min–max scaled to 0..255 on its own (channel
 * mean for c > 1), magnified `scale`× with a 2-pixel gap.
 */
export function imageGridPng(
  pixels: Float32Array,
  n: number,
  h: number,
  w: number,
  c: number,
  perRow: number,
  scale = 3,
): Uint8Array {
  const rows = Math.ceil(n / perRow);
  const gap = 2;
  const W = perRow * (w * scale + gap) + gap;
  const H = rows * (h * scale + gap) + gap;
  const out = new Uint8Array(W * H).fill(255);
  for (let i = 0; i < n; i++) {
    const px = new Float32Array(h * w);
    for (let p = 0; p < h * w; p++) {
      let s = 0;
      for (let ch = 0; ch < c; ch++) s += pixels[(i * h * w + p) * c + ch]!;
      px[p] = s / c;
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of px) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    const span = hi > lo ? hi - lo : 1;
    const ox = gap + (i % perRow) * (w * scale + gap);
    const oy = gap + Math.floor(i / perRow) * (h * scale + gap);
    for (let y = 0; y < h * scale; y++)
      for (let x = 0; x < w * scale; x++)
        out[(oy + y) * W + ox + x] = Math.round(
          (255 * (px[Math.floor(y / scale) * w + Math.floor(x / scale)]! - lo)) / span,
        );
  }
  return encodeGrayPng(out, W, H);
}

/** SVG line plot of loss per iteration; skipped iterations (DATM gate) as open circles. */
export function lossCurveSvg(
  iterations: ArrayLike<number>,
  losses: ArrayLike<number>,
  skipped: ArrayLike<number>,
  title: string,
): string {
  const W = 640;
  const H = 360;
  const m = { l: 56, r: 16, t: 32, b: 40 };
  const n = losses.length;
  const xs = Array.from(iterations);
  const ys = Array.from(losses);
  const x0 = n ? Math.min(...xs) : 0;
  const x1 = n ? Math.max(...xs, x0 + 1) : 1;
  const y1 = n ? Math.max(...ys) * 1.05 || 1 : 1;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - (y / y1) * (H - m.t - m.b);
  const f = (v: number) => v.toFixed(1);
  const points = xs.map((x, i) => `${f(sx(x))},${f(sy(ys[i]!))}`).join(' ');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => {
    const y = t * y1;
    return `<line x1="${m.l - 4}" x2="${W - m.r}" y1="${f(sy(y))}" y2="${f(sy(y))}" stroke="#ddd"/><text x="${m.l - 8}" y="${f(sy(y) + 4)}" text-anchor="end" font-size="11">${y.toFixed(2)}</text>`;
  });
  const xticks = [0, 0.5, 1].map((t) => {
    const x = Math.round(x0 + t * (x1 - x0));
    return `<text x="${f(sx(x))}" y="${H - m.b + 16}" text-anchor="middle" font-size="11">${x}</text>`;
  });
  const skippedMarks = xs
    .map((x, i) =>
      skipped[i] ? `<circle cx="${f(sx(x))}" cy="${f(sy(ys[i]!))}" r="3" fill="none" stroke="#c33"/>` : '',
    )
    .join('');
  const esc = (s: string) => s.replace(/[<>&"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    ...ticks,
    ...xticks,
    `<text x="${W / 2}" y="${H - 6}" text-anchor="middle" font-size="12">outer iteration</text>`,
    `<text x="14" y="${H / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${H / 2})">matching loss L</text>`,
    `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${points}"/>`,
    skippedMarks,
    '</svg>',
  ].join('\n');
}

/** Markdown rendering of the accuracy table (percent, mean ± sample std; steps: the longest student). */
export function accuracyMarkdown(rows: readonly AccuracyRow[]): string {
  const pct = (v: number) => (100 * v).toFixed(1);
  return [
    '| method | IPC | test accuracy % (mean ± sample std) | students | lr | steps | final train loss (mean / max) |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.method} | ${r.ipc ?? 'all'} | ${pct(r.mean)} ± ${pct(r.std)} | ${r.values.length} | ${r.lr.toPrecision(3)} | ${r.steps} | ${r.finalTrainLoss ? `${r.finalTrainLoss.mean.toFixed(3)} / ${r.finalTrainLoss.max.toFixed(3)}` : '—'} |`,
    ),
  ].join('\n');
}

export function createDistillReportActivities({ artifacts }: { artifacts: ArtifactStore }) {
  return {
    async distillReport(input: DistillReportInput): Promise<DistillReportResult> {
      const { cache, ...config } = input;
      return memoized(
        artifacts,
        {
          activity: 'distillReport@1',
          inputs: [input.distilled.sha256, input.log.sha256],
          config: { ...config, distilled: null, log: null },
        },
        cache,
        async () => {
          const distilled = decodeValidated(
            await artifacts.read(input.distilled),
            input.distilled.uri,
            DISTILLED_IMAGES,
          );
          const md = distilled.schema.metadata;
          const [h, w, c] = ['h', 'w', 'c'].map((k) => Number(md.get(k)));
          const { flat } = fixedSizeListValues<Float32Array>(distilled, 'pixels');
          const png = imageGridPng(flat, distilled.numRows, h!, w!, c!, input.ipc);
          const log = decodeValidated(await artifacts.read(input.log), input.log.uri, DISTILL_LOG, {
            allowEmpty: true,
          });
          const col = (name: string) => log.getChild(name)!.toArray() as ArrayLike<number>;
          const svg = lossCurveSvg(
            col('iteration'),
            col('loss'),
            col('skipped'),
            `${input.dataset}: ${input.method} IPC ${input.ipc} — matching loss`,
          );
          const evalRows = input.evaluations.flatMap((e) =>
            e.results.map((r) => ({ method: e.method, ...r })),
          );
          const evalTable = buildTable(EVAL_RESULTS, {
            method: evalRows.map((r) => r.method),
            ipc: Int32Array.from(evalRows, (r) => (r.method === 'full_data' ? -1 : input.ipc)),
            seed: Int32Array.from(evalRows, (r) => r.student),
            lr: Float64Array.from(evalRows, (r) => r.lr),
            steps: Int32Array.from(evalRows, (r) => r.steps),
            test_acc: Float64Array.from(evalRows, (r) => r.accuracy),
          });
          const accuracy = {
            dataset: input.dataset,
            method: input.method,
            ipc: input.ipc,
            rows: input.accuracy,
            markdown: accuracyMarkdown(input.accuracy),
          };
          const enc = new TextEncoder();
          return {
            outputs: [
              {
                output: 'eval_results',
                bytes: encodeParquet(evalTable),
                kind: 'table',
                format: 'parquet',
                rows: evalRows.length,
                schema: contractFingerprint(EVAL_RESULTS),
              },
              {
                output: 'accuracy',
                bytes: enc.encode(JSON.stringify(accuracy, null, 2)),
                kind: 'report',
                format: 'json',
              },
              { output: 'images', bytes: png, kind: 'report', format: 'png' },
              { output: 'loss_curve', bytes: enc.encode(svg), kind: 'report', format: 'svg' },
            ],
            result: (refs) => ({
              evalResults: refs.eval_results!,
              accuracy: refs.accuracy!,
              images: refs.images!,
              lossCurve: refs.loss_curve!,
            }),
          };
        },
      );
    },
  };
}
