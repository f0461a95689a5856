// ml/ops/cross-entropy.ts builds log-softmax from max/sub/exp/sum/log so that it can sit inside an
// unrolled inner loop: these tests check its first and second derivatives, with respect to the logits
// and to (soft) targets, against closed forms and finite differences.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { logSoftmax, softmaxCrossEntropy, softmaxCrossEntropyStock } from '../../../ml/ops/index.js';
import { expectGradMatchesFd, expectHvpMatchesFd, randn, randu, withTensors } from './finite-differences.js';

const ROWS = 4;
const COLS = 5;

/** Row-wise softmax in float64. */
function softmaxRows(z: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let r = 0; r < ROWS; r++) {
    const row = Array.from(z).slice(r * COLS, (r + 1) * COLS);
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((v) => v / s));
  }
  return out;
}

function rowSums(x: ArrayLike<number>): number[] {
  return Array.from({ length: ROWS }, (_, r) =>
    Array.from(x)
      .slice(r * COLS, (r + 1) * COLS)
      .reduce((a, b) => a + b, 0),
  );
}

function maxScaledError(got: ArrayLike<number>, want: number[]): number {
  const scale = Math.max(...want.map(Math.abs));
  return Math.max(...want.map((w, i) => Math.abs(got[i]! - w))) / scale;
}

/** Logits (one row shifted by +60 to exercise the max shift), unnormalised soft targets, directions. */
const setup = () =>
  tf.tidy(() => {
    const shift = tf.tensor2d([[0], [60], [0], [-30]]);
    return [
      tf.add(randn([ROWS, COLS], 31, 2), shift),
      randu([ROWS, COLS], 32, 0.1, 1),
      randn([ROWS, COLS], 33),
      randn([ROWS, COLS], 34),
      randn([ROWS, COLS], 35),
      randn([ROWS, COLS], 36),
    ];
  });

const totalCe = (z: tf.Tensor, t: tf.Tensor) => tf.sum(softmaxCrossEntropy(z, t)) as tf.Scalar;

describe('softmaxCrossEntropy / logSoftmax (ml/ops/cross-entropy.ts)', () => {
  it('first order: d/dz = sum(t) p - t and d/dt = -logSoftmax(z), matching finite differences', () => {
    withTensors(setup, (z, t, _vz, _vt, uz, ut) => {
      const [gz, gt] = tf.tidy(() =>
        tf
          .grads(totalCe)([z, t])
          .map((g) => g.dataSync()),
      );
      const p = softmaxRows(z.dataSync());
      const ts = Array.from(t.dataSync());
      const st = rowSums(ts);
      expect(
        maxScaledError(
          gz!,
          p.map((pi, i) => st[Math.floor(i / COLS)]! * pi - ts[i]!),
        ),
      ).toBeLessThan(1e-5);
      const zs = Array.from(z.dataSync());
      const lse = Array.from({ length: ROWS }, (_, r) => {
        const row = zs.slice(r * COLS, (r + 1) * COLS);
        const m = Math.max(...row);
        return m + Math.log(row.reduce((a, b) => a + Math.exp(b - m), 0));
      });
      expect(
        maxScaledError(
          gt!,
          zs.map((zi, i) => lse[Math.floor(i / COLS)]! - zi),
        ),
      ).toBeLessThan(1e-5);
      expectGradMatchesFd(totalCe, [z, t], [uz, ut], { eps: 1e-2, tol: 1e-3 });
    });
  });

  it('second order: Hessian-vector products match closed forms and finite differences', () => {
    withTensors(setup, (z, t, vz, vt, uz, ut) => {
      // h = <vz, dCE/dz> = sum(t)<p, vz> - <t, vz>, so dh/dz = sum(t)(p*vz - p<p, vz>), dh/dt = <p, vz> - vz.
      const [hz, ht] = tf.tidy(() =>
        tf
          .grads((zz: tf.Tensor, tt: tf.Tensor) => tf.sum(tf.mul(vz, tf.grads(totalCe)([zz, tt])[0]!)))([
            z,
            t,
          ])
          .map((g) => g.dataSync()),
      );
      const p = softmaxRows(z.dataSync());
      const st = rowSums(t.dataSync());
      const v = Array.from(vz.dataSync());
      const pv = rowSums(p.map((pi, i) => pi * v[i]!));
      const row = (i: number) => Math.floor(i / COLS);
      expect(
        maxScaledError(
          hz!,
          p.map((pi, i) => st[row(i)]! * (pi * v[i]! - pi * pv[row(i)]!)),
        ),
      ).toBeLessThan(1e-5);
      expect(
        maxScaledError(
          ht!,
          v.map((vi, i) => pv[row(i)]! - vi),
        ),
      ).toBeLessThan(1e-5);
      expectHvpMatchesFd(totalCe, [z, t], [vz, vt], [uz, ut], { eps: 1e-2, tol: 2e-3 });
    });
  });

  it('the fused op equals the stock composite in value, gradient and Hessian-vector product', () => {
    withTensors(setup, (z, t, vz, vt) => {
      const both = (ce: typeof softmaxCrossEntropy) =>
        tf.tidy(() => {
          const total = (zz: tf.Tensor, tt: tf.Tensor) => tf.sum(ce(zz, tt)) as tf.Scalar;
          const value = Array.from(ce(z, t).dataSync());
          const grads = tf
            .grads(total)([z, t])
            .map((g) => Array.from(g.dataSync()));
          const hvp = tf
            .grads((zz: tf.Tensor, tt: tf.Tensor) => {
              const [gz, gt] = tf.grads(total)([zz, tt]);
              return tf.add(tf.sum(tf.mul(vz, gz!)), tf.sum(tf.mul(vt, gt!))) as tf.Scalar;
            })([z, t])
            .map((g) => Array.from(g.dataSync()));
          return [value, ...grads, ...hvp];
        });
      const fused = both(softmaxCrossEntropy);
      const stock = both(softmaxCrossEntropyStock);
      fused.forEach((f, k) => expect(maxScaledError(f, stock[k]!), `output ${k}`).toBeLessThan(1e-5));
    });
  });

  it('logSoftmax alone: second order matches -sum(R)(p*v - p<p,v>)', () => {
    withTensors(setup, (z, R, v) => {
      const f = (zz: tf.Tensor) => tf.sum(tf.mul(R, logSoftmax(zz))) as tf.Scalar;
      const hvp = tf.tidy(() =>
        tf
          .grad((zz: tf.Tensor) => tf.sum(tf.mul(v, tf.grad(f)(zz))))(z)
          .dataSync(),
      );
      const p = softmaxRows(z.dataSync());
      const sR = rowSums(R.dataSync());
      const vs = Array.from(v.dataSync());
      const pv = rowSums(p.map((pi, i) => pi * vs[i]!));
      const row = (i: number) => Math.floor(i / COLS);
      expect(
        maxScaledError(
          hvp,
          p.map((pi, i) => -sR[row(i)]! * (pi * vs[i]! - pi * pv[row(i)]!)),
        ),
      ).toBeLessThan(1e-5);
    });
  });
});
