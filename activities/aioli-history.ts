// mixAioli's history table (queue `retort`): the rounds' proportions, weights, per-group validation
// losses and A estimates in the long `history` format (DESIGN.md §2: step, key, value), appended run
// by run across continueAsNew (each append is a new content-addressed artifact; nothing is rewritten).
import type { ArtifactRef } from '../schemas/artifact.js';
import { HISTORY, contractFingerprint } from '../schemas/tables.js';
import { buildTable, stringValues } from '../storage/arrow-tables.js';
import { type ArtifactStore, sha256Hex } from '../storage/artifacts.js';
import { decodeValidated, encodeParquet } from '../storage/parquet.js';
import { memoized } from './memo.js';

export interface HistoryRow {
  step: number;
  key: string;
  value: number;
}

export interface AppendMixingHistoryInput {
  /** The table so far (absent for the first rows). */
  previous?: ArtifactRef;
  rows: HistoryRow[];
}

/** A `history` table's rows (step as a number). */
export function readHistoryRows(bytes: Uint8Array, uri: string): HistoryRow[] {
  const table = decodeValidated(bytes, uri, HISTORY, { allowEmpty: true });
  const steps = table.getChild('step')!.toArray() as BigInt64Array;
  const keys = stringValues(table, 'key');
  const values = table.getChild('value')!.toArray() as Float64Array;
  return keys.map((key, i) => ({ step: Number(steps[i]!), key, value: values[i]! }));
}

export function historyTableBytes(rows: readonly HistoryRow[]): Uint8Array {
  return encodeParquet(
    buildTable(HISTORY, {
      step: BigInt64Array.from(rows.map((r) => BigInt(r.step))),
      key: rows.map((r) => r.key),
      value: Float64Array.from(rows.map((r) => r.value)),
    }),
  );
}

export function createAioliHistoryActivities({ artifacts }: { artifacts: ArtifactStore }) {
  return {
    /** `previous` + `rows` as a new history table. Same inputs → the same artifact. */
    async appendMixingHistory(input: AppendMixingHistoryInput): Promise<ArtifactRef> {
      const identity = {
        activity: 'appendMixingHistory@1',
        inputs: [input.previous?.sha256 ?? 'none', sha256Hex(JSON.stringify(input.rows))],
        config: {},
      };
      return memoized(artifacts, identity, true, async () => {
        const before = input.previous
          ? readHistoryRows(await artifacts.read(input.previous), input.previous.uri)
          : [];
        const rows = [...before, ...input.rows];
        return {
          outputs: [
            {
              output: 'history',
              bytes: historyTableBytes(rows),
              kind: 'table',
              format: 'parquet',
              rows: rows.length,
              schema: contractFingerprint(HISTORY),
            },
          ],
          result: (refs) => refs.history!,
        };
      });
    },
  };
}
