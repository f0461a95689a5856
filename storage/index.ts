// storage/: object stores, Arrow/Parquet codecs, artifact commits.
export * from './errors.js';
export * from './object-store.js';
export { FileStore } from './file-store.js';
export { S3Store } from './s3-store.js';
export { openStore, resolveObject, DEFAULT_STORE } from './open.js';
export * from './arrow-tables.js';
export * from './parquet.js';
export * from './artifacts.js';
export * from './ranged.js';
export * from './input-roots.js';
export * from './run-keys.js';
