// What a study on the PACS holds and which of its objects the classifier is meant for, read
// from WADO-RS metadata (no pixel data is transferred).

import dcmjs from 'dcmjs';
import type { DicomJson, DicomwebClient } from './dicomweb-client.js';
import { TAG, jsonNumber, jsonString } from './dicom-json.js';
import { DEFAULT_SELECTION_POLICY, selectView, type SelectionPolicy, type ViewDecision } from './view-selection.js';

export interface StudyObject {
  sopInstanceUid: string;
  seriesUid: string;
  sopClassUid: string;
  modality: string;
  transferSyntaxUid: string | null;
  rows: number | null;
  columns: number | null;
  decision: ViewDecision;
  /** The instance's metadata, naturalised (keyword -> value): what the decision was made from. */
  attributes: Record<string, unknown>;
}

/** A naturalised dataset (keyword -> value) from one DICOM JSON object. */
export function naturalize(item: DicomJson): Record<string, unknown> {
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(item);
}

/** Decides, for one instance's metadata, whether it is eligible and what it shows. */
export function describeObject(item: DicomJson, policy: SelectionPolicy = DEFAULT_SELECTION_POLICY): StudyObject {
  const attributes = naturalize(item);
  return {
    sopInstanceUid: jsonString(item, TAG.SOPInstanceUID),
    seriesUid: jsonString(item, TAG.SeriesInstanceUID),
    sopClassUid: jsonString(item, TAG.SOPClassUID),
    modality: jsonString(item, TAG.Modality),
    transferSyntaxUid: jsonString(item, TAG.AvailableTransferSyntaxUID) || jsonString(item, TAG.TransferSyntaxUID) || null,
    rows: jsonNumber(item, TAG.Rows),
    columns: jsonNumber(item, TAG.Columns),
    decision: selectView(attributes, policy),
    attributes,
  };
}

/** Every object of a study with its selection decision, in series and instance order. */
export async function describeStudy(client: DicomwebClient, studyUid: string, policy: SelectionPolicy = DEFAULT_SELECTION_POLICY): Promise<StudyObject[]> {
  const metadata = await client.metadata(`studies/${studyUid}`);
  return metadata
    .map((item) => describeObject(item, policy))
    .sort((a, b) => a.seriesUid.localeCompare(b.seriesUid) || a.sopInstanceUid.localeCompare(b.sopInstanceUid));
}
