// Activities for queue `retort-compute` (tfjs). The worker passes in the backend it initialised.
import { ArtifactStore } from '../storage/artifacts.js';
import type { ObjectStore } from '../storage/object-store.js';
import { withFailureMapping } from './failures.js';
import { withBackgroundHeartbeats } from './liveness.js';
import { createTrainingActivities } from './training.js';
import { createCvddActivities } from './cvdd/index.js';
import { createTrajectoryMatchingActivities } from './trajectory-matching/index.js';
import { createGotdComputeActivities } from './gotd/compute.js';
import { createRewarmComputeActivities } from './rewarm-compute.js';
import { createDedupComputeActivities } from './dedup.js';

export interface ComputeDeps {
  store: ObjectStore;
  backend: { name: string; tfVersion?: string };
}

export function createComputeActivities({ store, backend }: ComputeDeps) {
  const artifacts = new ArtifactStore(store);
  return withBackgroundHeartbeats(
    withFailureMapping({
      /** The backend and store a compute worker runs with (used by `retort doctor` and tests). */
      async computeBackendInfo(): Promise<{ backend: string; tfVersion?: string; store: string }> {
        return {
          backend: backend.name,
          ...(backend.tfVersion ? { tfVersion: backend.tfVersion } : {}),
          store: artifacts.store.root,
        };
      },
      ...createTrainingActivities({ artifacts }),
      ...createCvddActivities({ artifacts }),
      ...createTrajectoryMatchingActivities({ artifacts }),
      ...createGotdComputeActivities({ artifacts, backend }),
      ...createRewarmComputeActivities({ artifacts }),
      ...createDedupComputeActivities({ artifacts }),
    }),
  );
}
export type ComputeActivities = ReturnType<typeof createComputeActivities>;
