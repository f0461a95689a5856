// Activity factories. Workflows import these as TYPES only (proxyActivities<IoActivities>);
// workers build them with their dependencies (the object store).
import { ArtifactStore } from '../storage/artifacts.js';
import type { ObjectStore } from '../storage/object-store.js';
import { withFailureMapping } from './failures.js';
import { withBackgroundHeartbeats } from './liveness.js';
import { createIngestActivities } from './ingest.js';
import { createImageActivities } from './images.js';
import { createDistillReportActivities } from './distill-report.js';
import { createManifestActivities } from './manifest.js';
import { createAioliHistoryActivities } from './aioli-history.js';
import { createGotdIoActivities } from './gotd/io.js';
import { createRewarmIoActivities } from './rewarm.js';
import { createCurateIoActivities } from './curate.js';
import { createReportActivities } from './report/index.js';
import { createDedupIoActivities } from './dedup.js';

export interface ActivityDeps {
  store: ObjectStore;
}

/** Activities for queue `retort`: ingest, manifests, other I/O. */
export function createIoActivities({ store }: ActivityDeps) {
  const artifacts = new ArtifactStore(store);
  return withBackgroundHeartbeats(
    withFailureMapping({
      ...createIngestActivities({ artifacts }),
      ...createManifestActivities({ artifacts }),
      ...createAioliHistoryActivities({ artifacts }),
      ...createImageActivities({ artifacts }),
      ...createDistillReportActivities({ artifacts }),
      ...createGotdIoActivities({ artifacts }),
      ...createRewarmIoActivities({ artifacts }),
      ...createCurateIoActivities({ artifacts }),
      ...createReportActivities({ artifacts }),
      ...createDedupIoActivities({ artifacts }),
    }),
  );
}
export type IoActivities = ReturnType<typeof createIoActivities>;
