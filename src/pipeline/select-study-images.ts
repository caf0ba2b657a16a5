// The first stage of scoring a study: decide, from the PACS's metadata, which objects are
// images the classifier is meant for, and record every decision (skips with their reason).
// The metadata read here is handed on (selectStudy), so the image checks of the fetch stage
// judge headers without asking the PACS for them again.

import type { ImageRecord, StudyRecord } from '../domain/index.js';
import type { DicomwebClient } from '../dicom/dicomweb-client.js';
import type { NaturalizedDataset } from '../dicom/part10.js';
import { describeStudy } from '../dicom/study-images.js';
import type { SelectionPolicy } from '../dicom/view-selection.js';
import type { Store } from '../store/index.js';

export async function selectStudyImages(pacs: DicomwebClient, store: Store, studyUid: string, policy: SelectionPolicy): Promise<ImageRecord[]> {
  const study = await store.studies.findByUid(studyUid);
  if (!study) throw new Error(`study ${studyUid} has not been announced`);
  return (await selectStudy(pacs, store, study, policy)).images;
}

/** The recorded images and, by SOP Instance UID, the metadata each decision was made from. */
export async function selectStudy(
  pacs: DicomwebClient,
  store: Store,
  study: Pick<StudyRecord, 'id' | 'studyUid'>,
  policy: SelectionPolicy,
): Promise<{ images: ImageRecord[]; headers: Map<string, NaturalizedDataset> }> {
  const objects = await describeStudy(pacs, study.studyUid, policy);
  const headers = new Map(objects.map((o) => [o.sopInstanceUid, o.attributes as NaturalizedDataset]));
  const images = await store.images.upsertMany(
    study.id,
    objects.map((o) => ({
      sopInstanceUid: o.sopInstanceUid,
      sopClassUid: o.sopClassUid,
      seriesUid: o.seriesUid,
      modality: o.modality,
      laterality: o.decision.laterality,
      view: o.decision.view,
      viewModifiers: o.decision.modifiers,
      transferSyntaxUid: o.transferSyntaxUid,
      rows: o.rows,
      columns: o.columns,
      status: o.decision.eligible ? 'eligible' : 'skipped',
      statusReason: o.decision.reason ?? null,
    })),
  );
  return { images, headers };
}
