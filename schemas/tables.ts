// Arrow table contracts (DESIGN.md §2), declared once as data. storage/ turns a contract into an
// Arrow schema for writers and validators; the row types below are what activities build.
// (schemas/ may not import apache-arrow, so types are described, not constructed, here.)

export type ColumnType =
  | { kind: 'utf8' }
  | { kind: 'dictionary_utf8' }
  | { kind: 'int32' }
  | { kind: 'int64' }
  | { kind: 'float32' }
  | { kind: 'float64' }
  /** FixedSizeList<item>[size]; size 'any' means "fixed per file, checked against metadata". */
  | { kind: 'fixed_size_list'; item: 'float32' | 'int32'; size: number | 'any' };

export interface ColumnContract {
  name: string;
  type: ColumnType;
}

export interface TableContract {
  /** Stable name, used in error messages and as the schema fingerprint prefix. */
  name: string;
  columns: readonly ColumnContract[];
  /** Key-value metadata keys every file of this kind must carry. */
  metadata?: readonly string[];
}

const utf8 = { kind: 'utf8' } as const;
const dict = { kind: 'dictionary_utf8' } as const;
const int32 = { kind: 'int32' } as const;
const int64 = { kind: 'int64' } as const;
const float64 = { kind: 'float64' } as const;
const fsl = (item: 'float32' | 'int32', size: number | 'any' = 'any') =>
  ({ kind: 'fixed_size_list', item, size }) as const;

export const TEXT_CORPUS: TableContract = {
  name: 'text_corpus',
  columns: [
    { name: 'id', type: utf8 },
    { name: 'group', type: dict },
    { name: 'text', type: utf8 },
    { name: 'source', type: utf8 },
  ],
};
export interface TextCorpusRow {
  id: string;
  group: string;
  text: string;
  source: string;
}

export const TOKEN_WINDOWS: TableContract = {
  name: 'token_windows',
  columns: [
    { name: 'id', type: utf8 },
    { name: 'group', type: dict },
    { name: 'input_ids', type: fsl('int32') },
  ],
  metadata: ['ctx'],
};

export const EMBEDDINGS: TableContract = {
  name: 'embeddings',
  columns: [
    { name: 'id', type: utf8 },
    { name: 'embedding', type: fsl('float32') },
  ],
};

export const IMAGES: TableContract = {
  name: 'images',
  columns: [
    { name: 'id', type: utf8 },
    { name: 'label', type: int32 },
    { name: 'pixels', type: fsl('float32') },
  ],
  metadata: ['h', 'w', 'c'],
};

/**
 * A distilled (or baseline) set that describes itself (storage/distilled-table.ts writes and reads it):
 * `soft_label` holds PROBABILITIES (one-hot rows for hard labels) at `soft_label_temperature`.
 */
export const DISTILLED_IMAGES: TableContract = {
  name: 'distilled_images',
  columns: [...IMAGES.columns, { name: 'soft_label', type: fsl('float32') }],
  metadata: [
    'retort.method',
    'ipc',
    'classes',
    'h',
    'w',
    'c',
    'downsample',
    'normalization',
    'pixel_range',
    'label_kind',
    'soft_label_temperature',
  ],
};

export const TRAJECTORIES: TableContract = {
  name: 'trajectories',
  columns: [
    { name: 'expert', type: int32 },
    { name: 'epoch', type: int32 },
    { name: 'params', type: fsl('float32') },
  ],
};

export const HISTORY: TableContract = {
  name: 'history',
  columns: [
    { name: 'step', type: int64 },
    { name: 'key', type: utf8 },
    { name: 'value', type: float64 },
  ],
};

/** Per-group statistics written by ingest. */
export const GROUP_STATS: TableContract = {
  name: 'group_stats',
  columns: [
    { name: 'group', type: utf8 },
    { name: 'split', type: utf8 },
    { name: 'passages', type: int64 },
    { name: 'bytes', type: int64 },
    { name: 'windows', type: int64 },
  ],
};

export const TABLE_CONTRACTS = {
  text_corpus: TEXT_CORPUS,
  token_windows: TOKEN_WINDOWS,
  embeddings: EMBEDDINGS,
  images: IMAGES,
  distilled_images: DISTILLED_IMAGES,
  trajectories: TRAJECTORIES,
  history: HISTORY,
  group_stats: GROUP_STATS,
} as const;

function describeType(t: ColumnType): string {
  switch (t.kind) {
    case 'fixed_size_list':
      return `FixedSizeList<${t.item}>[${t.size === 'any' ? 'n' : t.size}]`;
    case 'dictionary_utf8':
      return 'Dictionary<utf8>';
    default:
      return t.kind;
  }
}

/** Human-readable type, as used in schema error messages. */
export function columnTypeName(t: ColumnType): string {
  return describeType(t);
}

/** Fingerprint recorded in ArtifactRef.schema: contract name + column types. */
export function contractFingerprint(c: TableContract): string {
  return `${c.name}(${c.columns.map((col) => `${col.name}:${describeType(col.type)}`).join(',')})`;
}

/** selectWarmup's output: the selected pool rows, best first; `score` is the calibrated OT gradient. */
export const SELECTED_SUBSET: TableContract = {
  name: 'selected_subset',
  columns: [
    { name: 'id', type: utf8 },
    { name: 'group', type: dict },
    { name: 'text', type: utf8 },
    { name: 'score', type: float64 },
  ],
};
export interface SelectedSubsetRow {
  id: string;
  group: string;
  text: string;
  score: number;
}

/** GOT-D scores of one solve (spec §3 `scores`, per shard); the solve's stats travel in metadata `solve_stats`. */
export const CANDIDATE_SCORES: TableContract = {
  name: 'candidate_scores',
  columns: [
    { name: 'id', type: utf8 },
    { name: 'potential_g', type: float64 },
    { name: 'calibrated_grad', type: float64 },
  ],
  metadata: ['solve_stats'],
};

/**
 * MinHash signatures (ml/methods/dedup): one row per document, the K components as int32 (each
 * < 2³¹ − 1). Metadata `minhash` = JSON of the settings that made them ({ngram, numPerm, seed,
 * stripPunctuation}); signatures are comparable only when it matches.
 */
export const MINHASH_SIGNATURES: TableContract = {
  name: 'minhash_signatures',
  columns: [
    { name: 'id', type: utf8 },
    { name: 'signature', type: fsl('int32') },
  ],
  metadata: ['minhash'],
};

/** Documents removed as near-duplicates: the kept document of their cluster and their Jaccard similarity to it. */
export const REMOVED_DUPLICATES: TableContract = {
  name: 'removed_duplicates',
  columns: [
    { name: 'id', type: utf8 },
    { name: 'kept_id', type: utf8 },
    { name: 'jaccard', type: float64 },
  ],
};
