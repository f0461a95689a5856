// Expert `trajectories` tables → the lookup ml/ reads (validated: one row per epoch, no gaps).
import { type Table } from 'apache-arrow';
import {
  trajectoriesFromArrays,
  type ExpertTrajectories,
} from '../../ml/methods/trajectory-matching/index.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import { TRAJECTORIES } from '../../schemas/tables.js';
import { fixedSizeListValues, validateTable } from '../../storage/arrow-tables.js';
import { type ArtifactStore } from '../../storage/artifacts.js';
import { schemaMismatch } from '../../storage/errors.js';
import { decodeParquet } from '../../storage/parquet.js';
import { asConfigError } from '../failures.js';

/** Reads `trajectories` tables (one per expert) into the lookup the method reads. */
export async function readTrajectories(
  artifacts: ArtifactStore,
  refs: readonly ArtifactRef[],
  paramCount: number,
): Promise<ExpertTrajectories> {
  const rows: Float32Array[][] = [];
  for (const ref of refs) {
    const table: Table = decodeParquet(await artifacts.read(ref), ref.uri);
    validateTable(table, TRAJECTORIES, ref.uri, { sizes: { params: paramCount } });
    const { flat } = fixedSizeListValues<Float32Array>(table, 'params');
    const epochs = Array.from(table.getChild('epoch')!.toArray() as ArrayLike<number>);
    const byEpoch: Float32Array[] = [];
    epochs.forEach((e, i) => (byEpoch[e] = flat.slice(i * paramCount, (i + 1) * paramCount)));
    if (byEpoch.length !== epochs.length || byEpoch.some((p) => !p))
      throw schemaMismatch(
        `Parquet column "epoch" in ${ref.uri}: epochs must be 0..${epochs.length - 1} without gaps`,
      );
    rows.push(byEpoch);
  }
  return asConfigError('expert trajectories', () => trajectoriesFromArrays(rows));
}
