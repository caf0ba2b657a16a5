// Outcomes recorded by clinicians: many labels at once, all or none. Each names its study by
// Study Instance UID and either one image (SOP Instance UID) or one breast (laterality).

import { Args, Authorized, Ctx, Mutation, Resolver, UseMiddleware } from 'type-graphql';
import { ValidationError, type ImageRecord, type StudyRecord } from '../../domain/index.js';
import type { LabelInput as StoredLabel } from '../../store/index.js';
import { auditMiddleware } from '../audit.js';
import type { ApiContext } from '../context.js';
import { SubmitLabelsArgs } from '../schema/inputs.js';
import { Label, toLabel } from '../schema/types.js';

@UseMiddleware(auditMiddleware)
@Resolver()
export class LabelResolver {
  @Authorized('clinician')
  @Mutation(() => [Label], { description: 'Records outcomes for images or breasts; every label is checked before any is written' })
  async submitLabels(@Args(() => SubmitLabelsArgs) { labels }: SubmitLabelsArgs, @Ctx() context: ApiContext): Promise<Label[]> {
    const { store } = context.services;
    const studies = new Map<string, StudyRecord>();
    const images = new Map<string, ImageRecord>();
    const stored: StoredLabel[] = [];
    for (const [i, label] of labels.entries()) {
      const field = `labels[${i}]`;
      let study = studies.get(label.studyInstanceUid);
      if (!study) {
        const found = await store.studies.findByUid(label.studyInstanceUid);
        if (!found) throw new ValidationError(`${field}.studyInstanceUid`, `no study ${label.studyInstanceUid}`);
        studies.set(label.studyInstanceUid, (study = found));
      }
      if (label.sopInstanceUid === undefined && label.laterality === undefined) {
        throw new ValidationError(field, 'name an image (sopInstanceUid) or a breast (laterality)');
      }
      if (label.sopInstanceUid !== undefined) {
        const image = images.get(label.sopInstanceUid) ?? (await store.images.findBySopInstanceUid(label.sopInstanceUid));
        if (!image || image.studyId !== study.id) {
          throw new ValidationError(`${field}.sopInstanceUid`, `no image ${label.sopInstanceUid} in study ${label.studyInstanceUid}`);
        }
        const side = image.laterality === 'L' || image.laterality === 'R' ? image.laterality : null;
        if (label.laterality !== undefined && label.laterality !== side) {
          throw new ValidationError(`${field}.laterality`, `the image is of side ${image.laterality}, not ${label.laterality}`);
        }
        images.set(image.sopInstanceUid, image);
        stored.push({ studyId: study.id, scope: 'image', imageId: image.id, laterality: side, value: label.value, source: label.source, author: context.actor.id, note: label.note ?? null });
      } else {
        stored.push({ studyId: study.id, scope: 'breast', imageId: null, laterality: label.laterality!, value: label.value, source: label.source, author: context.actor.id, note: label.note ?? null });
      }
    }
    const records = await store.labels.addMany(stored);
    const studyUid = new Map([...studies.values()].map((s) => [s.id, s.studyUid]));
    const imageUid = new Map([...images.values()].map((im) => [im.id, im.sopInstanceUid]));
    return records.map((r) => toLabel(r, { studyUid: studyUid.get(r.studyId)!, sopInstanceUid: r.imageId ? (imageUid.get(r.imageId) ?? null) : null }));
  }
}
