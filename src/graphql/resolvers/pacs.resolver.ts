// The PACS's way in through the API: announce a study (the same as the webhook, for PACS that
// call GraphQL). Orthanc's Lua notifier uses the webhook, which answers before looking the
// study up (Orthanc blocks its own REST API while a Lua callback runs).

import { Arg, Authorized, Ctx, Mutation, Resolver, UseMiddleware } from 'type-graphql';
import { auditMiddleware } from '../audit.js';
import type { ApiContext } from '../context.js';
import { Announcement } from '../schema/types.js';

@UseMiddleware(auditMiddleware)
@Resolver()
export class PacsResolver {
  @Authorized('pacs')
  @Mutation(() => Announcement, { description: 'Tells the service a study is complete on the PACS; it is scored unless already scored with the same content' })
  async notifyStudy(@Arg('studyInstanceUid', () => String) studyInstanceUid: string, @Ctx() context: ApiContext): Promise<Announcement> {
    const result = await context.services.discovery.announce(studyInstanceUid, 'webhook');
    return { studyInstanceUid, outcome: result.outcome, jobId: result.jobId ?? null };
  }
}
