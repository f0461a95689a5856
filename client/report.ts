// HTML run reports: what a run read, what it wrote, and its per-group figures, from its manifest.
import type { ObjectStore } from '../storage/object-store.js';
import { findManifestKey } from '../storage/run-keys.js';

interface ManifestLike {
  workflowId: string;
  runId: string;
  workflowType: string;
  input: unknown;
  outputs: Record<string, unknown>;
  codeVersion?: string;
  committedAt?: string;
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function refRows(prefix: string, value: unknown): string[] {
  if (!value || typeof value !== 'object') return [];
  const v = value as Record<string, unknown>;
  if (typeof v.uri === 'string' && typeof v.sha256 === 'string') {
    return [
      `<tr><td>${esc(prefix)}</td><td><a href="${esc(v.uri)}">${esc(v.uri)}</a></td><td>${v.rows ?? ''}</td><td>${v.bytes}</td><td><code>${esc(v.sha256.slice(0, 16))}…</code></td></tr>`,
    ];
  }
  return Object.entries(v).flatMap(([k, x]) => refRows(prefix ? `${prefix}.${k}` : k, x));
}

/** Renders a run's manifest (+ its result, for per-group tables) as a standalone HTML page. */
export function renderRunReport(manifest: ManifestLike, result?: Record<string, unknown>): string {
  const groups = (result?.groups ?? []) as {
    group: string;
    passages?: Record<string, number>;
    bytes?: Record<string, number>;
    windows?: Record<string, number>;
  }[];
  const splits = ['train', 'val', 'test'];
  const groupTable = groups.length
    ? `<h2>Groups</h2><table><tr><th>group</th>${splits.map((s) => `<th>passages ${s}</th>`).join('')}${splits.map((s) => `<th>windows ${s}</th>`).join('')}<th>bytes</th></tr>${groups
        .map(
          (g) =>
            `<tr><td>${esc(g.group)}</td>${splits.map((s) => `<td>${g.passages?.[s] ?? ''}</td>`).join('')}${splits.map((s) => `<td>${g.windows?.[s] ?? ''}</td>`).join('')}<td>${Object.values(g.bytes ?? {}).reduce((a, b) => a + b, 0)}</td></tr>`,
        )
        .join('')}</table>`
    : '';
  return `<!doctype html><html><head><meta charset="utf-8"><title>Retort ${esc(manifest.workflowType)} ${esc(manifest.workflowId)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body>
<h1>${esc(manifest.workflowType)}</h1>
<p>workflow <code>${esc(manifest.workflowId)}</code>, run <code>${esc(manifest.runId)}</code>, code ${esc(manifest.codeVersion ?? '')}, committed ${esc(manifest.committedAt ?? '')}</p>
${groupTable}
<h2>Artifacts</h2><table><tr><th>output</th><th>uri</th><th>rows</th><th>bytes</th><th>sha256</th></tr>${refRows('', manifest.outputs).join('')}</table>
<h2>Input</h2><pre>${esc(JSON.stringify(manifest.input, null, 2))}</pre>
</body></html>`;
}

/** Reads the latest run's manifest and writes `report.html` next to it; returns its URI. */
export async function writeRunReport(
  store: ObjectStore,
  workflowId: string,
  result?: Record<string, unknown>,
): Promise<string> {
  const key = await findManifestKey(store, workflowId);
  if (!key) throw new Error(`no manifest for workflow ${workflowId} in ${store.root}`);
  const manifest = JSON.parse(new TextDecoder().decode(await store.get(key))) as ManifestLike;
  const reportKey = key.replace(/manifest\.json$/, 'report.html');
  await store.put(reportKey, new TextEncoder().encode(renderRunReport(manifest, result)), {
    contentType: 'text/html',
  });
  return store.uri(reportKey);
}
