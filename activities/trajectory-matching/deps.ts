// What every trajectory-matching activity of one worker shares.
import { type ExpertTrajectories } from '../../ml/methods/trajectory-matching/index.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import { type ArtifactStore } from '../../storage/artifacts.js';
import { CheckpointStore } from '../../storage/checkpoints.js';
import { type ImageData, trainingTableReader } from '../training-data.js';

export interface TrajectoryMatchingDeps {
  artifacts: ArtifactStore;
  checkpoints: CheckpointStore;
  /** An `images` table (through `reader`, by default the train reader). */
  images: (ref: ArtifactRef, reader?: TableReader) => Promise<ImageData>;
  /** A separate reader (and cache) for test tables. */
  readTest: TableReader;
  /** Expert trajectories, the last set read kept in memory (consecutive chunks read the same). */
  trajectories: (refs: readonly ArtifactRef[], paramCount: number) => Promise<ExpertTrajectories>;
}

type TableReader = ReturnType<typeof trainingTableReader>;
