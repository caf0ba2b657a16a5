// The first stage of scoring a study: decide, from the PACS's metadata, which objects are
// images the classifier is meant for, and record every decision (skips with their reason).

import type { ImageRecord } from '../domain/index.js';
import type { DicomwebClient } from '../dicom/dicomweb-client.js';
import { describeStudy } from '../dicom/study-images.js';
import type { SelectionPolicy } from '../dicom/view-selection.js';
import type { Store } from '../store/index.js';

export async function selectStudyImages(pacs: DicomwebClient, store: Store, studyUid: string, policy: SelectionPolicy): Promise<ImageRecord[]> {
  const study = await store.studies.findByUid(studyUid);
  if (!study) throw new Error(`study ${studyUid} has not been announced`);
  const objects = await describeStudy(pacs, studyUid, policy);
  return store.images.upsertMany(
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
}
