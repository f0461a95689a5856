// Which implementation the fused ops of ml/ops run: their own (default) or the stock tfjs path they
// replace, kept for A/B measurements and as a fallback (`RETORT_STOCK_OPS=1`, read by
// workers/backend.ts at start-up). A process-wide switch like the registered gradients themselves:
// set once before the first step, never while a tape is recording.
import * as tf from '@tensorflow/tfjs-core';

let fused = true;

export function setFusedOps(enabled: boolean): void {
  fused = enabled;
}

export function fusedOpsEnabled(): boolean {
  return fused;
}

/**
 * True while an outer gradient records the ops being run (the engine's own test, isTapeOn). A fused
 * op's backward pass computed from tensors made inside its forward pass (where nothing is recorded) is
 * a constant to such an outer gradient; the fused ops recompute from their saved inputs then.
 */
export function tapeRecording(): boolean {
  const state = tf.engine().state as unknown as { gradientDepth: number; kernelDepth: number };
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}
