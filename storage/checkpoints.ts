// Training checkpoints as tfjs `ModelArtifacts` in the object store (DESIGN.md §3), and the `LATEST`
// pointer a retried training activity resumes from (specs/temporal.md §c.2).
//
// Layout under a training run's key:
//   checkpoints/<runKey>/step-<n>/weights.bin   all tensors, concatenated in weightSpecs order
//   checkpoints/<runKey>/step-<n>/model.json    tfjs model.json (weightsManifest + userDefinedMetadata)
//                                               plus `weightsSha256`/`weightsBytes` of weights.bin
//   checkpoints/<runKey>/LATEST                 { step, checkpoint: ArtifactRef of model.json }
//
// Commit order: weights.bin, then model.json (create-if-absent: its presence commits the checkpoint,
// and it pins the weights by hash), then LATEST. A crash at any point leaves either the previous
// LATEST or a complete checkpoint behind. The bytes are a function of the tensors and metadata only
// (canonical JSON, no timestamps), so the same training state always hashes the same.
//
// storage/ may use tfjs `io` types only; turning tensors into `ModelArtifacts` (tf.io.encodeWeights)
// happens in activities/.
import type { io } from '@tensorflow/tfjs-core';
import { ArtifactRef } from '../schemas/artifact.js';
import { canonicalJson, sha256Hex } from './artifacts.js';
import { RetortDataError, corrupt, notFound } from './errors.js';
import type { ObjectStore } from './object-store.js';
import { resolveObject } from './open.js';

export const CHECKPOINT_FORMAT = 'retort-checkpoint';
const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

export const checkpointRunPrefix = (runKey: string) => `checkpoints/${runKey}`;
export const checkpointDir = (runKey: string, step: number) => `${checkpointRunPrefix(runKey)}/step-${step}`;
export const latestKey = (runKey: string) => `${checkpointRunPrefix(runKey)}/LATEST`;

/** What `checkpoints/<runKey>/LATEST` holds. */
export interface LatestPointer {
  step: number;
  checkpoint: ArtifactRef;
}

/** model.json as written here: tfjs' ModelJSON plus the hash of the weights file. */
interface CheckpointJson {
  format: string;
  generatedBy: string;
  modelTopology: null;
  weightsManifest: { paths: string[]; weights: io.WeightsManifestEntry[] }[];
  userDefinedMetadata: Record<string, unknown>;
  weightsSha256: string;
  weightsBytes: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function concatWeightData(data: io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  const parts = Array.isArray(data) ? data : [data];
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), o);
    o += p.byteLength;
  }
  return out;
}

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

function expectedWeightBytes(specs: readonly io.WeightsManifestEntry[], where: string): number {
  let n = 0;
  for (const s of specs) {
    const per = BYTES_PER_ELEMENT[s.dtype];
    if (per === undefined || s.quantization) {
      throw new RetortDataError(
        'InvalidPipelineInput',
        `checkpoint ${where}: weight "${s.name}" has unsupported dtype ${s.dtype}${s.quantization ? ' (quantized)' : ''}`,
      );
    }
    n += per * s.shape.reduce((a, b) => a * b, 1);
  }
  return n;
}

function parseJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch {
    throw corrupt(`${what} is not valid JSON`);
  }
}

export class CheckpointStore {
  constructor(readonly store: ObjectStore) {}

  /**
   * Commits `artifacts` as the checkpoint of `runKey` at `step` and returns the ref of its
   * model.json. If that checkpoint is already committed it is kept (a retry recomputed it) and its
   * ref is returned. Does NOT move LATEST: call `advanceLatest` after.
   */
  async save(runKey: string, step: number, artifacts: io.ModelArtifacts): Promise<ArtifactRef> {
    const dir = checkpointDir(runKey, step);
    const weights = concatWeightData(artifacts.weightData);
    const specs = artifacts.weightSpecs ?? [];
    const want = expectedWeightBytes(specs, this.store.uri(dir));
    if (want !== weights.byteLength) {
      throw new RetortDataError(
        'InvalidPipelineInput',
        `checkpoint ${this.store.uri(dir)}: weightSpecs describe ${want} bytes, weightData has ${weights.byteLength}`,
      );
    }
    const json: CheckpointJson = {
      format: artifacts.format ?? CHECKPOINT_FORMAT,
      generatedBy: artifacts.generatedBy ?? 'retort',
      modelTopology: null,
      weightsManifest: [{ paths: [WEIGHTS_BIN], weights: specs }],
      userDefinedMetadata: (artifacts.userDefinedMetadata ?? {}) as Record<string, unknown>,
      weightsSha256: sha256Hex(weights),
      weightsBytes: weights.byteLength,
    };
    const modelBytes = encoder.encode(canonicalJson(json));
    const existing = await this.find(runKey, step);
    if (existing) return existing;
    // weights.bin may be overwritten: until model.json exists nothing refers to it.
    await this.store.put(`${dir}/${WEIGHTS_BIN}`, weights, { contentType: 'application/octet-stream' });
    const outcome = await this.store.put(`${dir}/${MODEL_JSON}`, modelBytes, {
      ifNoneMatch: true,
      contentType: 'application/json',
    });
    if (outcome === 'exists') {
      // A concurrent writer committed first: theirs stands (it names its own weights by hash).
      const found = await this.find(runKey, step);
      if (found) return found;
    }
    return {
      uri: this.store.uri(`${dir}/${MODEL_JSON}`),
      kind: 'checkpoint',
      format: 'tfjs',
      sha256: sha256Hex(modelBytes),
      bytes: modelBytes.byteLength,
    };
  }

  /** The committed checkpoint of `runKey` at `step`, verified; undefined if there is none. */
  async find(runKey: string, step: number): Promise<ArtifactRef | undefined> {
    const key = `${checkpointDir(runKey, step)}/${MODEL_JSON}`;
    if (!(await this.store.head(key))) return undefined;
    const bytes = await this.store.get(key);
    const ref: ArtifactRef = {
      uri: this.store.uri(key),
      kind: 'checkpoint',
      format: 'tfjs',
      sha256: sha256Hex(bytes),
      bytes: bytes.byteLength,
    };
    await this.load(ref, bytes); // verifies the weights against the hash model.json records
    return ref;
  }

  /** Reads and verifies a checkpoint: model.json against `ref.sha256`, weights.bin against model.json. */
  async load(ref: ArtifactRef, modelBytes?: Uint8Array): Promise<io.ModelArtifacts> {
    if (ref.kind !== 'checkpoint' || ref.format !== 'tfjs') {
      throw new RetortDataError(
        'InvalidPipelineInput',
        `${ref.uri}: expected a tfjs checkpoint ref, got kind ${ref.kind} format ${ref.format}`,
      );
    }
    const { store, key } = resolveObject(ref.uri, this.store);
    if (!key.endsWith(MODEL_JSON))
      throw new RetortDataError(
        'InvalidPipelineInput',
        `checkpoint ref ${ref.uri} must name a ${MODEL_JSON}`,
      );
    let bytes = modelBytes;
    if (!bytes) {
      if (!(await store.head(key))) throw notFound(`checkpoint ${ref.uri} does not exist`);
      bytes = await store.get(key);
    }
    const got = sha256Hex(bytes);
    if (got !== ref.sha256)
      throw corrupt(`checkpoint ${ref.uri}: sha256 ${got} does not match its ref (${ref.sha256})`);
    const json = parseJson<Partial<CheckpointJson>>(bytes, `checkpoint ${ref.uri}`);
    const group = json.weightsManifest?.[0];
    if (
      !group ||
      json.weightsManifest!.length !== 1 ||
      group.paths.length !== 1 ||
      typeof json.weightsSha256 !== 'string'
    ) {
      throw corrupt(`checkpoint ${ref.uri}: expected one weights group with one file and a weightsSha256`);
    }
    const weightsKey = key.slice(0, key.length - MODEL_JSON.length) + group.paths[0]!;
    if (!(await store.head(weightsKey)))
      throw corrupt(`checkpoint ${ref.uri}: weights file ${store.uri(weightsKey)} is missing`);
    const weights = await store.get(weightsKey);
    const wsha = sha256Hex(weights);
    if (wsha !== json.weightsSha256) {
      throw corrupt(
        `checkpoint weights ${store.uri(weightsKey)}: sha256 ${wsha} does not match model.json (${json.weightsSha256})`,
      );
    }
    const want = expectedWeightBytes(group.weights, ref.uri);
    if (want !== weights.byteLength)
      throw corrupt(
        `checkpoint ${ref.uri}: weightSpecs describe ${want} bytes, ${store.uri(weightsKey)} has ${weights.byteLength}`,
      );
    return {
      format: json.format,
      generatedBy: json.generatedBy,
      weightSpecs: group.weights,
      weightData: weights.buffer.slice(
        weights.byteOffset,
        weights.byteOffset + weights.byteLength,
      ) as ArrayBuffer,
      userDefinedMetadata: (json.userDefinedMetadata ?? {}) as io.ModelArtifacts['userDefinedMetadata'],
    };
  }

  /** The run's LATEST pointer, or undefined before its first checkpoint. The checkpoint it names is not read here. */
  async readLatest(runKey: string): Promise<LatestPointer | undefined> {
    const key = latestKey(runKey);
    if (!(await this.store.head(key))) return undefined;
    const raw = parseJson<unknown>(await this.store.get(key), `LATEST pointer ${this.store.uri(key)}`);
    const parsed = ArtifactRef.safeParse((raw as { checkpoint?: unknown })?.checkpoint);
    const step = (raw as { step?: unknown })?.step;
    if (!parsed.success || typeof step !== 'number' || !Number.isInteger(step) || step < 0) {
      throw corrupt(`LATEST pointer ${this.store.uri(key)}: expected { step, checkpoint: ArtifactRef }`);
    }
    return { step, checkpoint: parsed.data };
  }

  /**
   * Points LATEST at `checkpoint` (already committed) unless LATEST is already at or past `step`.
   * Returns the pointer now in place.
   */
  async advanceLatest(runKey: string, step: number, checkpoint: ArtifactRef): Promise<LatestPointer> {
    const current = await this.readLatest(runKey).catch((err: unknown) => {
      // A corrupt pointer is replaced by a good one rather than blocking the run forever.
      if (err instanceof RetortDataError && err.type === 'CorruptDataset') return undefined;
      throw err;
    });
    if (current && current.step >= step) return current;
    const pointer: LatestPointer = { step, checkpoint };
    await this.store.put(latestKey(runKey), encoder.encode(canonicalJson(pointer)), {
      contentType: 'application/json',
    });
    return pointer;
  }

  /** A tfjs IOHandler for the checkpoint of `runKey` at `step` (save commits it; load verifies it). */
  handler(runKey: string, step: number): io.IOHandler & { ref?: ArtifactRef } {
    const handler: io.IOHandler & { ref?: ArtifactRef } = {
      save: async (artifacts) => {
        handler.ref = await this.save(runKey, step, artifacts);
        return {
          modelArtifactsInfo: {
            dateSaved: new Date(),
            modelTopologyType: 'JSON',
            weightDataBytes: concatWeightData(artifacts.weightData).byteLength,
          },
        };
      },
      load: async () => {
        const ref = handler.ref ?? (await this.find(runKey, step));
        if (!ref) throw notFound(`checkpoint ${this.store.uri(checkpointDir(runKey, step))} does not exist`);
        return this.load(ref);
      },
    };
    return handler;
  }
}

/** A tfjs IOHandler that loads the checkpoint named by `ref` (e.g. an `init` checkpoint of another run). */
export function checkpointRefHandler(store: ObjectStore, ref: ArtifactRef): io.IOHandler {
  return { load: () => new CheckpointStore(store).load(ref) };
}
