// CV-DD — Cui, Li, Ma, Bi, Luo, Shen, "Dataset Distillation via Committee Voting", 2025
// (arXiv 2501.07575, code github.com/Jiacheng8/CV-DD), on top of SRe²L (Yin, Xing, Shen, NeurIPS 2023).
// Spec: specs/distill-committee-voting.md. The spec numbers the method by section, not by the paper's
// equation numbers (not yet cross-checked against the PDF), so the comments here cite spec sections
// and the code file each rule comes from.
//
// Implemented here (pure functions over tensors and plain config; seeds passed in):
// - §4.1 voting weights  w_i = exp(p_i/τ) / Σ_{j∈V} exp(p_j/τ), priors p in percent, τ = 5 for
//   recovery, τ = 10 for relabelling; plus the code's "equal" and "random" voter types.
// - §5.1 voters per IPC slot: top-N priors (IPC 1), the C(m, N) subsets cycled, or a seeded random subset.
// - §5.2 recovery of one slot: for it = 0..I−1
//     lr_it = ½(1 + cos(π·it/I))·lr
//     x~    = roll(Flip(RandomResizedCrop(x)), (u, v))                       (augment.ts)
//     BN_i  = Σ_l κ_l (‖μ_l(x~) − m_l‖₂ + ‖σ²_l(x~) − v_l‖₂),  κ_0 = 10, κ_l = 1   (BN input stats, eval mode)
//     L     = Σ_{i∈V} w_i (CE(f_i(x~), y) + r_bn·BN_i)
//     x ← Adam(β 0.5/0.9, ε 1e-8) step on L, then clamp to the normalised pixel range.
//   SRe²L(++) is the same code with one voter of weight 1.
// - §5.3 batch-specific soft labels (BSSL): z = Σ_i w_i f_i(x) with every member in TRAIN-mode BN over
//   `bsslGroups` contiguous groups of the batch (the code's halves); eval-mode BN = plain SRe²L labels.
// - §5.4 post-evaluation loss KL(softmax(z/T) ‖ softmax(s/T)), batch mean, no T² factor; a student
//   training loop with gradient-accumulation micro-batches and BN running statistics.
// Not here: data loading, patch (RDED) initialisation, storage of the tables of §2, the loops over
// slots / epochs (activities), the end-to-end oracle §8.10 (a workflow test).
export * from './config.js';
export * from './members.js';
export * from './voting.js';
export * from './bn-objective.js';
export * from './recovery.js';
export * from './relabel.js';
export * from './student.js';
export * from './image-set.js';
export * from './member-training.js';
export * from './slots.js';
export * from './post-eval.js';
