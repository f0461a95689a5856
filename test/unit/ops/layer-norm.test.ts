// The fused layer norm (ml/ops/layer-norm.ts): same values and gradients as the stock primitives, and
// finite differences to first and second order in x, γ, β (rank 2 and rank 3 inputs).
import * as tf from '@tensorflow/tfjs-core';
import { describe, it } from 'vitest';
import { layerNorm, layerNormStock } from '../../../ml/ops/index.js';
import {
  expectCloseScaled,
  expectGradMatchesFd,
  expectHvpMatchesFd,
  hvpValues,
  randn,
  tensorValues,
  withTensors,
} from './finite-differences.js';

const D = 5;

/** x (offset and scaled per feature so the statistics matter), γ, β, weights, and directions. */
const setupFor = (shape: number[]) => () => [
  tf.tidy(() =>
    tf.add(tf.mul(randn(shape, 61), tf.tensor1d([1, 3, 0.5, 2, 1])), tf.tensor1d([2, -1, 0, 1, 4])),
  ),
  tf.tidy(() => tf.add(randn([D], 62, 0.3), 1)),
  randn([D], 63),
  randn(shape, 64),
  randn(shape, 65),
  randn([D], 66),
  randn([D], 67),
  randn(shape, 68),
  randn([D], 69),
  randn([D], 70),
];

type Norm = typeof layerNorm;
/** A loss that is not linear in the output, so second derivatives involve the norm's curvature. */
const objective =
  (norm: Norm, w: tf.Tensor) =>
  (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar =>
    tf.sum(tf.mul(w, tf.square(tf.add(norm(x, g, b), 0.3)))) as tf.Scalar;

describe('layerNorm (ml/ops/layer-norm.ts)', () => {
  for (const shape of [
    [4, D],
    [2, 3, D],
  ]) {
    const setup = setupFor(shape);

    it(`[${shape}]: normalises each row over the last axis (mean β, std |γ|) like the stock ops`, () => {
      withTensors(setup, (x, g, b) => {
        const y = layerNorm(x!, g!, b!);
        const z = tf.tidy(() => tf.div(tf.sub(y, b!), g!));
        const { mean, variance } = tf.moments(z, shape.length - 1);
        const rows = shape.slice(0, -1).reduce((p, q) => p * q, 1);
        expectCloseScaled(
          [Array.from(mean.dataSync()).map((v) => v + 1)],
          [new Array<number>(rows).fill(1)],
          1e-5,
        );
        expectCloseScaled([Array.from(variance.dataSync())], [new Array<number>(rows).fill(1)], 1e-3);
        expectCloseScaled(
          [Array.from(y.dataSync())],
          [tf.tidy(() => Array.from(layerNormStock(x!, g!, b!).dataSync()))],
          1e-5,
        );
        tf.dispose([y, z, mean, variance]);
      });
    });

    it(`[${shape}]: first order equals the stock gradient and matches finite differences`, () => {
      withTensors(setup, (x, g, b, w, ux, ug, ub) => {
        const fused = tf.tidy(() => tensorValues(tf.grads(objective(layerNorm, w!))([x!, g!, b!])));
        const stock = tf.tidy(() => tensorValues(tf.grads(objective(layerNormStock, w!))([x!, g!, b!])));
        expectCloseScaled(fused, stock, 1e-4);
        expectGradMatchesFd(objective(layerNorm, w!), [x!, g!, b!], [ux!, ug!, ub!]);
      });
    });

    it(`[${shape}]: second order, Hessian-vector products equal the stock ones and match finite differences`, () => {
      withTensors(setup, (x, g, b, w, ux, ug, ub, vx, vg, vb) => {
        const hvp = (norm: Norm) => hvpValues(objective(norm, w!), [x!, g!, b!], [vx!, vg!, vb!]);
        expectCloseScaled(hvp(layerNorm), hvp(layerNormStock), 1e-3);
        expectHvpMatchesFd(objective(layerNorm, w!), [x!, g!, b!], [vx!, vg!, vb!], [ux!, ug!, ub!], {
          tol: 2e-3,
        });
      });
    });
  }
});
