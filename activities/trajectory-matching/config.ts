// Trajectory-matching settings (plain JSON from the workflow) → validated ml/ configs, and the shape
// check of an images table against the ConvNet.
import {
  type TrajectoryMatchingConfig,
  trajectoryMatchingConfig,
  type TrajectoryMatchingOverrides,
} from '../../ml/methods/trajectory-matching/index.js';
import { type ConvNetConfig, convNetConfig } from '../../ml/models/convnet.js';
import { type ImageData } from '../training-data.js';
import { asConfigError, configError } from '../failures.js';

export function resolveNet(raw: Record<string, unknown>): ConvNetConfig {
  return asConfigError('net', () => convNetConfig(raw as Partial<ConvNetConfig>));
}

export function resolveTm(raw: Record<string, unknown>): TrajectoryMatchingConfig {
  return asConfigError('trajectory matching config', () =>
    trajectoryMatchingConfig(raw as TrajectoryMatchingOverrides),
  );
}

export function checkShape(net: ConvNetConfig, data: ImageData): void {
  if (net.h !== data.h || net.w !== data.w || net.c !== data.c)
    throw configError(
      `ConvNet input ${net.h}×${net.w}×${net.c} does not match ${data.uri} (metadata h=${data.h}, w=${data.w}, c=${data.c})`,
    );
}
