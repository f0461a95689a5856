// Committees loaded on a worker, shared by the CV-DD activities running on it.
import * as tf from '@tensorflow/tfjs-core';
import { disposeCommitteeMembers } from '../../ml/methods/cvdd/index.js';
import { type CommitteeMember } from '../../ml/methods/cvdd/index.js';
import { buffersToStats } from '../../ml/train/loops.js';
import type { CommitteeMemberRef } from '../../schemas/cvdd.js';
import { CheckpointStore } from '../../storage/checkpoints.js';
import { type ImageData } from '../training-data.js';
import { incompatible } from '../failures.js';
import { committeeArch } from './config.js';
import { type MemberMeta, decodeCheckpoint } from './checkpoint.js';

export type LeaseCommittee = (
  refs: CommitteeMemberRef[],
  data: ImageData,
  classes: number,
) => Promise<{ members: CommitteeMember[]; release: () => void }>;

/** A lease function over the members' checkpoints in `checkpoints`. */
export function committeeLeases(checkpoints: CheckpointStore): LeaseCommittee {
  /** Loads the frozen members of these refs (their optimizer tensors dropped); all-or-nothing. */
  async function loadMembers(
    refs: CommitteeMemberRef[],
    data: ImageData,
    classes: number,
  ): Promise<CommitteeMember[]> {
    const members: CommitteeMember[] = [];
    try {
      for (const ref of refs) {
        const arch = committeeArch(ref.arch, data, classes);
        const art = await checkpoints.load(ref.checkpoint);
        const { tensors, meta } = decodeCheckpoint<MemberMeta>(art, ref.checkpoint.uri, 'member');
        const params = tensors.params as tf.Tensor1D | undefined;
        if (!params) throw incompatible(`checkpoint ${ref.checkpoint.uri}: tensor "params" is missing`);
        members.push({
          id: ref.id,
          arch,
          params,
          runningStats: buffersToStats(tensors, meta.layers),
          prior: ref.prior,
        });
        tf.dispose(
          Object.entries(tensors)
            .filter(([n]) => n.startsWith('optimizer/'))
            .map(([, t]) => t),
        );
      }
      return members;
    } catch (err) {
      disposeCommitteeMembers(members);
      throw err;
    }
  }

  /**
   * Committees loaded on this worker, by checkpoint hashes and input shape. Activities running at once
   * share an entry (the load is one promise, so two first callers load once) and count themselves in
   * `users`; an entry is disposed only when nobody uses it and another committee is released, so a
   * slot never loses its members mid-recovery (e.g. to a concurrent prior pipeline's single member)
   * and consecutive chunks of one committee reuse them.
   */
  const committees = new Map<string, { members: Promise<CommitteeMember[]>; users: number }>();
  async function leaseCommittee(
    refs: CommitteeMemberRef[],
    data: ImageData,
    classes: number,
  ): Promise<{ members: CommitteeMember[]; release: () => void }> {
    const key = refs.map((r) => r.checkpoint.sha256).join(',') + `@${data.h}x${data.w}x${data.c}/${classes}`;
    let entry = committees.get(key);
    if (!entry) {
      const created = { members: loadMembers(refs, data, classes), users: 0 };
      created.members.catch(() => committees.get(key) === created && committees.delete(key));
      committees.set(key, created);
      entry = created;
    }
    entry.users += 1;
    const leased = entry;
    let members: CommitteeMember[];
    try {
      members = await leased.members;
    } catch (err) {
      leased.users -= 1;
      throw err;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      leased.users -= 1;
      for (const [k, e] of committees)
        if (k !== key && e.users === 0) {
          committees.delete(k);
          void e.members.then(disposeCommitteeMembers, () => undefined);
        }
    };
    return { members, release };
  }

  return leaseCommittee;
}
