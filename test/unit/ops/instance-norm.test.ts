import * as tf from '@tensorflow/tfjs-core';
import { describe, it } from 'vitest';
import { instanceNorm, instanceNormStock } from '../../../ml/ops/index.js';
import {
  expectCloseScaled,
  expectGradMatchesFd,
  expectHvpMatchesFd,
  hvpValues,
  randn,
  tensorValues,
  withTensors,
} from './finite-differences.js';

const SHAPE = [2, 4, 3, 3];

/** x (offset and scaled per channel so the statistics matter), γ, β, weights, and directions. */
const setup = () => [
  tf.tidy(() => tf.add(tf.mul(randn(SHAPE, 41), tf.tensor1d([1, 3, 0.5])), tf.tensor1d([2, -1, 0]))),
  tf.tidy(() => tf.add(randn([3], 42, 0.3), 1)),
  randn([3], 43),
  randn(SHAPE, 44),
  randn(SHAPE, 45),
  randn([3], 46),
  randn([3], 47),
  randn(SHAPE, 48),
  randn([3], 49),
  randn([3], 50),
];

type Norm = typeof instanceNorm;
/** A loss that is not linear in the output, so second derivatives involve the norm's curvature. */
const objective =
  (norm: Norm, w: tf.Tensor) =>
  (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar =>
    tf.sum(tf.mul(w, tf.square(tf.add(norm(x as tf.Tensor4D, g, b), 0.3)))) as tf.Scalar;

describe('instanceNorm (ml/ops/instance-norm.ts)', () => {
  it('normalises each sample and channel over H, W (mean β, std |γ|) like the stock ops', () => {
    withTensors(setup, (x, g, b) => {
      const y = instanceNorm(x as tf.Tensor4D, g!, b!);
      const { mean, variance } = tf.moments(y, [1, 2]);
      const gs = Array.from(g!.dataSync());
      const bs = Array.from(b!.dataSync());
      expectCloseScaled([Array.from(mean.dataSync())], [[...bs, ...bs]], 1e-5);
      expectCloseScaled(
        [Array.from(variance.dataSync())],
        [gs.map((v) => v * v).concat(gs.map((v) => v * v))],
        1e-3,
      );
      expectCloseScaled(
        [Array.from(y.dataSync())],
        [tf.tidy(() => Array.from(instanceNormStock(x as tf.Tensor4D, g!, b!).dataSync()))],
        1e-5,
      );
      tf.dispose([y, mean, variance]);
    });
  });

  it('first order: equals the stock gradient and matches finite differences in x, γ, β', () => {
    withTensors(setup, (x, g, b, w, ux, ug, ub) => {
      const fused = tf.tidy(() => tensorValues(tf.grads(objective(instanceNorm, w!))([x!, g!, b!])));
      const stock = tf.tidy(() => tensorValues(tf.grads(objective(instanceNormStock, w!))([x!, g!, b!])));
      expectCloseScaled(fused, stock, 1e-4);
      expectGradMatchesFd(objective(instanceNorm, w!), [x!, g!, b!], [ux!, ug!, ub!]);
    });
  });

  it('second order: Hessian-vector products equal the stock ones and match finite differences', () => {
    withTensors(setup, (x, g, b, w, ux, ug, ub, vx, vg, vb) => {
      const hvp = (norm: Norm) => hvpValues(objective(norm, w!), [x!, g!, b!], [vx!, vg!, vb!]);
      expectCloseScaled(hvp(instanceNorm), hvp(instanceNormStock), 1e-3);
      expectHvpMatchesFd(objective(instanceNorm, w!), [x!, g!, b!], [vx!, vg!, vb!], [ux!, ug!, ub!], {
        tol: 2e-3,
      });
    });
  });
});
