// `s3://bucket/prefix` object store over AWS SDK v3 (v2 is end-of-life). Endpoint, region and
// credentials come from the standard AWS environment (AWS_ENDPOINT_URL, AWS_REGION,
// AWS_ACCESS_KEY_ID, ...); a custom endpoint implies path-style addressing (local S3 servers).
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { notFound } from './errors.js';
import {
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  validateKey,
} from './object-store.js';

export interface S3StoreOptions {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** An existing client (same endpoint and credentials), e.g. for another prefix of the same bucket. */
  client?: S3Client;
  /** How long transient errors are retried before giving up (default {@link outageWindowMs}). */
  outageWindowMs?: number;
}

/**
 * How long a store call keeps retrying through an outage: `RETORT_STORE_OUTAGE_WINDOW` seconds,
 * default 600. Activities heartbeat meanwhile, so the wait is visible and cancellable.
 */
export function outageWindowMs(env: string | undefined = process.env.RETORT_STORE_OUTAGE_WINDOW): number {
  const seconds = env === undefined || env === '' ? 600 : Number(env);
  if (!Number.isFinite(seconds) || seconds < 0)
    throw new Error(`RETORT_STORE_OUTAGE_WINDOW must be a number of seconds, got "${env}"`);
  return seconds * 1000;
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

/** Errors an unavailable or overloaded server gives: network failures, 5xx, 429, 408, timeouts. */
export function isTransientStoreError(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && status !== 0) return status >= 500 || status === 429 || status === 408;
  if (e?.code && TRANSIENT_CODES.has(e.code)) return true;
  if (e?.name && /Timeout|SlowDown|Throttl|ServiceUnavailable|InternalError/.test(e.name)) return true;
  return e?.cause !== undefined && e.cause !== err ? isTransientStoreError(e.cause) : false;
}

function parseS3Uri(uri: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new Error(`not an s3:// URI: ${uri}`);
  const prefix = m[2]!.replace(/\/+$/, '');
  return { bucket: m[1]!, prefix: prefix ? `${prefix}/` : '' };
}

const statusOf = (err: unknown) => (err as S3ServiceException).$metadata?.httpStatusCode;

export class S3Store implements ObjectStore {
  readonly root: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  readonly outageWindowMs: number;

  constructor(rootUri: string, options: S3StoreOptions = {}) {
    const { bucket, prefix } = parseS3Uri(rootUri);
    this.bucket = bucket;
    this.prefix = prefix;
    this.root = `s3://${bucket}/${prefix}`.replace(/\/$/, '');
    const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    this.outageWindowMs = options.outageWindowMs ?? outageWindowMs();
    this.client =
      options.client ??
      new S3Client({
        region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
        ...(endpoint ? { endpoint } : {}),
        forcePathStyle:
          options.forcePathStyle ?? (endpoint !== undefined || process.env.RETORT_S3_PATH_STYLE === '1'),
        ...(options.credentials ? { credentials: options.credentials } : {}),
        // Checksums only when we supply them: some S3-compatible servers reject CRC trailers.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
  }

  /** The same bucket and client at another key prefix (`""` = the whole bucket). */
  at(prefix: string): S3Store {
    return new S3Store(`s3://${this.bucket}/${prefix}`, {
      client: this.client,
      outageWindowMs: this.outageWindowMs,
    });
  }

  /**
   * Runs one store call, retrying transient failures with capped exponential backoff until the
   * outage window has passed; then the last error is thrown (a retryable activity failure).
   */
  private async retrying<T>(call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.outageWindowMs;
    for (let delay = 250; ; delay = Math.min(delay * 2, 15_000)) {
      try {
        return await call();
      } catch (err) {
        if (!isTransientStoreError(err) || Date.now() + delay > deadline) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private objectKey(key: string): string {
    return this.prefix + validateKey(key);
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    try {
      await this.retrying(() =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.objectKey(key),
            Body: body,
            ContentLength: body.byteLength,
            ...(options.contentType ? { ContentType: options.contentType } : {}),
            ...(options.sha256Base64 ? { ChecksumSHA256: options.sha256Base64 } : {}),
            ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
          }),
        ),
      );
      return 'written';
    } catch (err) {
      // 412: the key exists (If-None-Match); 409: a concurrent conditional write is in flight.
      if (options.ifNoneMatch && (statusOf(err) === 412 || statusOf(err) === 409)) return 'exists';
      throw err;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return await this.retrying(async () => {
        const res = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
        );
        return res.Body!.transformToByteArray();
      });
    } catch (err) {
      if (statusOf(err) === 404) throw notFound(`object ${this.uri(key)} does not exist`);
      throw err;
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0);
    try {
      return await this.retrying(async () => {
        const res = await this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: this.objectKey(key),
            Range: `bytes=${start}-${end - 1}`,
          }),
        );
        return res.Body!.transformToByteArray();
      });
    } catch (err) {
      if (statusOf(err) === 404) throw notFound(`object ${this.uri(key)} does not exist`);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const res = await this.retrying(() =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) })),
      );
      return { key, size: res.ContentLength ?? 0 };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const res = await this.retrying(() =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ContinuationToken: token,
          }),
        ),
      );
      for (const o of res.Contents ?? [])
        out.push({
          key: o.Key!.slice(this.prefix.length),
          size: o.Size ?? 0,
          ...(o.LastModified ? { modifiedMs: o.LastModified.getTime() } : {}),
        });
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async delete(key: string): Promise<void> {
    await this.retrying(() =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) })),
    );
  }
}
