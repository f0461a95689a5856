// schemas/: contracts shared by every layer.
export * from './artifact.js';
export * from './tables.js';
export * from './temporal.js';
export * from './ingest.js';
export * from './messages.js';
export * from './training.js';
export * from './gotd.js';
