// The only thing that crosses Temporal: references to content-addressed objects (DESIGN.md §2).
import { z } from 'zod';

export const ARTIFACT_KINDS = ['table', 'checkpoint', 'trajectory', 'report'] as const;
export const ARTIFACT_FORMATS = ['parquet', 'arrow', 'tfjs', 'html', 'json', 'svg', 'png'] as const;

export const ArtifactRef = z.object({
  /** file:///abs/path or s3://bucket/key */
  uri: z.string().regex(/^(file|s3):\/\//, 'expected a file:// or s3:// URI'),
  kind: z.enum(ARTIFACT_KINDS),
  format: z.enum(ARTIFACT_FORMATS),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
  rows: z.number().int().nonnegative().optional(),
  /** Fingerprint of the table contract the object satisfies. */
  schema: z.string().optional(),
});
export type ArtifactRef = z.infer<typeof ArtifactRef>;

/** A URI given by a user (no hash known yet): the input side of ingest activities. */
export const DataUri = z
  .string()
  .min(1)
  .refine((u) => /^(file|s3):\/\//.test(u) || u.startsWith('/') || u.startsWith('./'), {
    message: 'expected file://, s3:// or a local path',
  });
