// Dataset distillation by trajectory matching.
//
//   MTT:  Cazenavette et al., "Dataset Distillation by Matching Training Trajectories", CVPR 2022
//         (arXiv 2203.11932; code GeorgeCazenavette/mtt-distillation, distill.py).
//   DATM: Guo et al., "Towards Lossless Dataset Distillation via Difficulty-Aligned Trajectory
//         Matching", ICLR 2024 (arXiv 2310.05773; code NUS-HPC-AI-Lab/DATM, distill/DATM.py).
//   AST (optional student-side flags): Shen et al. 2023, arXiv 2310.10541.
// Spec: specs/distill-trajectory-matching.md. Equations implemented (MTT §3.2 and Algorithm 1):
//
//   inner loop (spec §5.3):               θ_{n+1} = θ_n − α ∇_θ ℓ(f(X[B_n]; θ_n), y[B_n]),  n = 0..N−1,
//                                          θ_0 = θ*_{k,t}, kept on the tape (create_graph semantics)
//   matching loss (spec §5.4):            L = ‖θ_N − θ*_{k,t+M}‖² / ‖θ*_{k,t} − θ*_{k,t+M}‖²
//   outer step (spec §5.5):               X, α (and DATM's L) ← SGD with momentum on ∇L, separate LRs
//   DATM window (spec §6.1):              t ~ U{T−, …, U(it)−1},  U(it) = min(T+, T + ⌊(T+ − T)·it/I_exp⌋)
//   DATM soft labels (spec §6.3):          ℓ = −(1/B) Σ_i Σ_c softmax(L_i)_c log softmax(f(x_i))_c
//   DATM gate (spec §6.4):                 the optimisers step only when L ≤ threshold
//   AST (spec §7):                         balanced inner loss s(t), intermediate matching β_i, weight
//                                          perturbation of θ_0, heavy-ball inner momentum
//
// Everything here is pure: tensors and plain config in, tensors and plain numbers out. Expert
// trajectories come through a lookup (`ExpertTrajectories`), and every random draw of outer iteration
// `it` derives from (config.seed, it), so a chunk of iterations resumed from a checkpoint of the state
// reproduces an uninterrupted run bit for bit.
//
// Where the spec leaves a detail open or differs from the authors' code, the code is followed (noted in
// place): the start-epoch window is np.random.randint's half-open [T−, U); minibatches are `torch.split`
// chunks of a fresh permutation taken from the END (`indices_chunks.pop()`), so a short chunk comes
// first; skipped iterations leave the optimiser state (momentum buffers) untouched; soft labels for
// 'real'/'noise' init are expert 0's raw logits (init.ts). Deliberate departures:
// the expert is drawn uniformly per iteration (DATM cycles through a shuffled file order) so that each
// iteration depends on (seed, it) only; α may be optimised in log space (spec §5); a non-finite loss
// throws instead of being silently skipped by the gate.
export * from './state.js';
export * from './segment.js';
export * from './matching.js';
export * from './outer-loop.js';
export * from './init.js';
export * from './training.js';
export * from './config.js';
export * from './presets.js';
