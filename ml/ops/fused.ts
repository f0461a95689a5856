// Which implementation the fused ops of ml/ops run: their own (default) or the stock tfjs path they
// replace, kept for A/B measurements and as a fallback (`RETORT_STOCK_OPS=1`, read by
// workers/backend.ts at start-up). A process-wide switch like the registered gradients themselves:
// set once before the first step, never while a tape is recording.
let fused = true;

export function setFusedOps(enabled: boolean): void {
  fused = enabled;
}

export function fusedOpsEnabled(): boolean {
  return fused;
}
