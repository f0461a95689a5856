// Activity factories. Workflows import these as TYPES only (proxyActivities<IoActivities>);
// workers build them with their dependencies (the object store).
import { ArtifactStore } from '../storage/artifacts.js';
import type { ObjectStore } from '../storage/object-store.js';
import { withFailureMapping } from './failures.js';
import { createIngestActivities } from './ingest.js';
import { createImageActivities } from './images.js';
import { createDistillReportActivities } from './distill-report.js';
import { createManifestActivities } from './manifest.js';
import { createAioliHistoryActivities } from './aioli-history.js';
import { createGotdIoActivities } from './gotd/io.js';
import { createRewarmIoActivities } from './rewarm.js';
import { createCurateIoActivities } from './curate.js';

export interface ActivityDeps {
  store: ObjectStore;
}

/** Activities for queue `retort`: ingest, manifests, other I/O. */
export function createIoActivities({ store }: ActivityDeps) {
  const artifacts = new ArtifactStore(store);
  return withFailureMapping({
    ...createIngestActivities({ artifacts }),
    ...createManifestActivities({ artifacts }),
    ...createAioliHistoryActivities({ artifacts }),
    ...createImageActivities({ artifacts }),
    ...createDistillReportActivities({ artifacts }),
    ...createGotdIoActivities({ artifacts }),
    ...createRewarmIoActivities({ artifacts }),
    ...createCurateIoActivities({ artifacts }),
  });
}
export type IoActivities = ReturnType<typeof createIoActivities>;
