// Every test process runs on the backend a worker would pick (native tfjs-node in CI), with
// Retort's gradient overrides registered.
import { initBackend } from '../../workers/backend.js';

await initBackend();
