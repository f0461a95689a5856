// Garbage collection of a store (`retort gc`, DESIGN.md §3): mark what is referenced, sweep the
// rest of `artifacts/` and `checkpoints/` that is older than a cutoff.
//
// Roots: every file under `runs/` (manifests, run reports) and `lineages/` (lineage pointers), the
// values the caller adds (schedule inputs, what open workflows have seen: client/gc.ts) and every
// object written after the cutoff. From the roots, marking follows refs (`{uri, sha256}` objects)
// and plain URI strings into this store, reads each live JSON object for more, keeps a live
// checkpoint's whole `step-<n>/` folder and a live artifact's `.ref.json` sidecar. A memoized
// activity result (a JSON object whose sidecar says `memoEntry`) is kept while everything it names
// is kept, so a repeated run still hits for every stage whose outputs a kept manifest names; a
// `LATEST` pointer or any other JSON naming only live refs is kept the same way.
//
// Nothing outside `artifacts/` and `checkpoints/` is ever deleted: the store is also an allowed
// input root, so users may keep their own files in it.
import type { ObjectInfo, ObjectStore } from './object-store.js';

/** Prefixes gc may delete under: what activities write. */
export const COLLECTED_PREFIXES = ['artifacts/', 'checkpoints/'] as const;
/** Prefixes whose every object is a root: run manifests and reports, lineage pointers. */
export const ROOT_PREFIXES = ['runs/', 'lineages/'] as const;

export interface GcOptions {
  /** Objects modified at or after this time (ms since the epoch) are kept as roots. */
  cutoffMs: number;
  /** More roots: any JSON-like values whose refs and URIs into this store are kept. */
  roots?: readonly unknown[];
}

export interface GcPlan {
  store: string;
  cutoff: string;
  /** What would be deleted, in the order `sweep` deletes it. */
  delete: ObjectInfo[];
  bytes: number;
  /** Objects under the collected prefixes that stay. */
  kept: number;
}

const isSidecar = (key: string) => key.endsWith('.ref.json');
const isJson = (key: string) => key.endsWith('.json') || /^checkpoints\/.+\/LATEST$/.test(key);
/** `checkpoints/<runKey>/step-<n>/` of a checkpoint file: its files are kept or deleted together. */
const checkpointFolder = (key: string) => /^(checkpoints\/.+\/step-\d+\/)[^/]+$/.exec(key)?.[1];

/** Deletion order: sidecars first (no memo lookup can hit what goes next), then pointers and model.json. */
const rank = (key: string) =>
  isSidecar(key) ? 0 : key.endsWith('/LATEST') ? 1 : key.endsWith('/model.json') ? 2 : 3;

/** Store keys named inside `value`: refs (`uri` + `sha256`) and URI strings under the store root. */
export function referencedKeys(value: unknown, storeRoot: string): { keys: string[]; refs: string[] } {
  const prefix = `${storeRoot}/`;
  const keys: string[] = [];
  const refs: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (v.startsWith(prefix)) keys.push(v.slice(prefix.length).replace(/\/+$/, ''));
      return;
    }
    if (!v || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach(walk);
    const o = v as Record<string, unknown>;
    if (typeof o.uri === 'string' && typeof o.sha256 === 'string' && o.uri.startsWith(prefix))
      refs.push(o.uri.slice(prefix.length));
    Object.values(o).forEach(walk);
  };
  walk(value);
  return { keys, refs };
}

const decoder = new TextDecoder();

async function readJson(store: ObjectStore, key: string): Promise<unknown> {
  try {
    return JSON.parse(decoder.decode(await store.get(key))) as unknown;
  } catch {
    return undefined; // not JSON after all, or deleted meanwhile: names nothing
  }
}

/** What `sweep` would delete: every unreferenced object under the collected prefixes older than the cutoff. */
export async function planGc(store: ObjectStore, options: GcOptions): Promise<GcPlan> {
  const all = await store.list('');
  const byKey = new Map(all.map((o) => [o.key, o]));
  const live = new Set<string>();
  const queue: string[] = [];
  const sorted = all.map((o) => o.key).sort();
  /** Every key under `folder` (a prefix ending in '/'), by binary search in the sorted keys. */
  const under = function* (folder: string) {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < folder) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < sorted.length && sorted[i]!.startsWith(folder); i++) yield sorted[i]!;
  };

  const keep = (key: string) => {
    if (live.has(key) || !byKey.has(key)) return;
    live.add(key);
    queue.push(key);
  };
  /** A key or folder named in a root: the object, or everything under it. */
  const keepNamed = (key: string) => {
    if (byKey.has(key)) keep(key);
    for (const k of under(`${key}/`)) keep(k);
  };
  const keepValue = (value: unknown) => {
    const { keys, refs } = referencedKeys(value, store.root);
    for (const k of refs) keep(k);
    for (const k of keys) keepNamed(k);
  };

  for (const o of all) {
    const collected = COLLECTED_PREFIXES.some((p) => o.key.startsWith(p));
    if (!collected || (o.modifiedMs ?? Infinity) >= options.cutoffMs) keep(o.key);
  }
  for (const v of options.roots ?? []) keepValue(v);

  const drain = async () => {
    while (queue.length > 0) {
      const key = queue.pop()!;
      if (COLLECTED_PREFIXES.some((p) => key.startsWith(p))) {
        const folder = checkpointFolder(key);
        if (folder) for (const k of under(folder)) keep(k);
        if (key.startsWith('artifacts/') && !isSidecar(key)) keep(`${key}.ref.json`);
        if (isSidecar(key)) keep(key.slice(0, -'.ref.json'.length));
      }
      if (isJson(key) || isSidecar(key)) keepValue(await readJson(store, key));
    }
  };
  await drain();

  // Memo entries and pointers: kept while everything they name is kept. One pass suffices: what
  // they name is already live, so keeping them adds nothing new to mark.
  for (const o of all) {
    if (live.has(o.key) || isSidecar(o.key) || !isJson(o.key)) continue;
    if (!COLLECTED_PREFIXES.some((p) => o.key.startsWith(p))) continue;
    const value = await readJson(store, o.key);
    const { keys, refs } = referencedKeys(value, store.root);
    const named = [...refs, ...keys];
    const allLive = named.every((k) => live.has(k));
    let memoEntry = false;
    if (named.length === 0 && o.key.startsWith('artifacts/')) {
      const ref = await readJson(store, `${o.key}.ref.json`);
      memoEntry = (ref as { memoEntry?: unknown } | undefined)?.memoEntry === true;
    }
    if ((named.length > 0 && allLive) || memoEntry) keep(o.key);
  }
  await drain();

  const doomed = all
    .filter((o) => !live.has(o.key))
    .sort((a, b) => rank(a.key) - rank(b.key) || a.key.localeCompare(b.key));
  const collected = all.filter((o) => COLLECTED_PREFIXES.some((p) => o.key.startsWith(p)));
  return {
    store: store.root,
    cutoff: new Date(options.cutoffMs).toISOString(),
    delete: doomed.map(({ key, size }) => ({ key, size })),
    bytes: doomed.reduce((n, o) => n + o.size, 0),
    kept: collected.length - doomed.length,
  };
}

/** Deletes a plan's objects in its order (sidecars and pointers before what they name). */
export async function sweep(store: ObjectStore, plan: GcPlan): Promise<void> {
  for (const o of plan.delete) await store.delete(o.key);
}
