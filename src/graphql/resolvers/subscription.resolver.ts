// Live updates over graphql-ws: a job's progress, and exam results as they are stored.
// type-graphql checks @Authorized on each event, not on subscribing, so the role check and the
// audit event happen here, when the subscription starts.

import { Arg, Ctx, Float, ID, Root, Subscription, Resolver, type SubscribeResolverData } from 'type-graphql';
import type { GraphQLResolveInfo } from 'graphql';
import { FINAL_JOB_STATUSES, type JobRecord, type Role } from '../../domain/index.js';
import { ForbiddenError, roleAllows } from '../auth.js';
import { recordAudit } from '../audit.js';
import type { ApiContext } from '../context.js';
import type { ExamResultEvent } from '../change-feed.js';
import { Job, StudyResult, toJob } from '../schema/types.js';

type SubscribeData = SubscribeResolverData<unknown, Record<string, unknown>, ApiContext>;

async function admit(data: SubscribeData, roles: Role[]): Promise<void> {
  const { context, info, args } = data;
  const allowed = roleAllows(context.actor.role, roles);
  await recordAudit(context, context.actor, info as GraphQLResolveInfo, args, allowed ? 'ok' : 'denied');
  if (!allowed) throw new ForbiddenError(`role ${context.actor.role} may not subscribe to ${info.fieldName}`);
}

/** Keeps the items of `source` that `accept` selects; return() reaches the source at once. */
function filtered<T>(source: AsyncIterableIterator<T>, accept: (item: T) => boolean): AsyncIterableIterator<T> {
  const iterator: AsyncIterableIterator<T> = {
    async next() {
      for (;;) {
        const item = await source.next();
        if (item.done || accept(item.value)) return item;
      }
    },
    return: async () => (await source.return?.()) ?? { value: undefined, done: true },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/** Passes job updates through and completes after the one that reached a final state. */
function untilFinal(source: AsyncIterableIterator<JobRecord>): AsyncIterableIterator<JobRecord> {
  let ended = false;
  const iterator: AsyncIterableIterator<JobRecord> = {
    async next() {
      if (ended) {
        await source.return?.();
        return { value: undefined, done: true };
      }
      const item = await source.next();
      if (!item.done && (FINAL_JOB_STATUSES as readonly string[]).concat('failed').includes(item.value.status)) ended = true;
      return item;
    },
    return: async () => (await source.return?.()) ?? { value: undefined, done: true },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

@Resolver()
export class SubscriptionResolver {
  @Subscription(() => Job, {
    description: "A job's updates (progress, status) until it ends",
    subscribe: async (data: SubscribeData) => {
      await admit(data, ['admin']);
      const id = String(data.args.id);
      return untilFinal(data.context.services.feed.jobs((job) => job.id === id));
    },
  })
  jobProgress(@Root() job: JobRecord, @Arg('id', () => ID) _id: string): Job {
    return toJob(job);
  }

  @Subscription(() => StudyResult, {
    description: 'Exam results as they are stored, optionally only those at or above a probability',
    subscribe: async (data: SubscribeData) => {
      await admit(data, ['clinician']);
      const min = typeof data.args.minProbability === 'number' ? data.args.minProbability : 0;
      return filtered(data.context.services.feed.results(), (result) => result.probability >= min);
    },
  })
  async newResults(@Root() result: ExamResultEvent, @Ctx() context: ApiContext, @Arg('minProbability', () => Float, { nullable: true }) _min?: number): Promise<StudyResult> {
    // Each result delivered is a read of that study's result: audited, like study(uid). A failed
    // write fails this event's delivery (as a read whose audit fails is refused elsewhere).
    const { actor } = context;
    await context.services.store.audit.record({ actor: actor.id, action: 'subscription.newResults.delivered', target: `study:${result.studyUid}`, details: { outcome: 'ok', role: actor.role, modelVersion: result.modelVersion } });
    return { studyInstanceUid: result.studyUid, modelVersion: result.modelVersion, probability: result.probability, positive: result.positive, createdAt: result.createdAt };
  }
}
