// Every GraphQL operation the web console sends, by name. The console's types
// (generated/operation-types.ts) are generated from these documents and the server's schema by
// `npm run console:types`; test/integration/console-operations.test.ts validates each document
// against the schema the server builds, holds it to the API's depth and cost limits, and fails
// when the generated types are stale. Plain strings, no DOM and no Node: both the browser bundle
// and the tests import this file.

/** The fields of a job every page shows. */
const JOB_FIELDS = 'id kind status payload progress result attempts maxAttempts lastError cancelRequested createdAt startedAt finishedAt';

/** The fields of a study in a list. */
const STUDY_ROW_FIELDS = `nodes {
      studyInstanceUid patientId accessionNumber studyDate description status statusReason createdAt
      exam { probability positive modelVersion outOfDistributionFlagged flags }
    }
    pageInfo { endCursor hasNextPage }`;

const LABEL_FIELDS = 'id scope laterality value source author note recordedAt sopInstanceUid';

export const OPERATIONS = {
  Me: `query Me { me { id name role } }`,

  Studies: `query Studies($filter: StudyFilter, $sort: StudySort!, $first: Int!, $after: String) {
  studies(filter: $filter, sort: $sort, first: $first, after: $after) {
    ${STUDY_ROW_FIELDS}
  }
}`,

  Worklist: `query Worklist($first: Int!, $after: String) {
  worklist(first: $first, after: $after) {
    ${STUDY_ROW_FIELDS}
  }
}`,

  Study: `query Study($studyInstanceUid: String!, $overlaySize: Int!) {
  study(studyInstanceUid: $studyInstanceUid) {
    studyInstanceUid patientId accessionNumber studyDate description modalities status statusReason source createdAt updatedAt
    exam { probability positive modelVersion outOfDistribution outOfDistributionFlagged flags createdAt }
    breasts { laterality probability positive modelVersion flags }
    images { sopInstanceUid seriesInstanceUid modality laterality view viewModifiers rows columns transferSyntaxUid status statusReason }
    predictions(level: IMAGE) {
      sopInstanceUid laterality probability positive modelVersion outOfDistribution outOfDistributionFlagged flags
      regions { score center { column row } }
      heatMapOverlayPng(maxSize: $overlaySize)
    }
    reports { sopInstanceUid seriesInstanceUid template status storedOn modelVersion presentationStateSopInstanceUid }
    labels(first: 500) { ${LABEL_FIELDS} }
  }
}`,

  SubmitLabels: `mutation SubmitLabels($labels: [LabelInput!]!) {
  submitLabels(labels: $labels) { ${LABEL_FIELDS} }
}`,

  ModelVersions: `query ModelVersions {
  modelVersions { version architecture threshold active createdAt activatedAt activatedBy auc aucCi beatsChance roc { fpr tpr threshold } }
}`,

  ActivateModelVersion: `mutation ActivateModelVersion($version: String!) {
  activateModelVersion(version: $version) { version active activatedAt activatedBy }
}`,

  EvaluateModelVersion: `mutation EvaluateModelVersion($version: String!) {
  evaluateModelVersion(version: $version) { ${JOB_FIELDS} }
}`,

  Jobs: `query Jobs($kind: String, $status: JobStatus, $first: Int!) {
  jobs(kind: $kind, status: $status, first: $first) { ${JOB_FIELDS} }
}`,

  Job: `query Job($id: ID!) {
  job(id: $id) { ${JOB_FIELDS} }
}`,

  CancelJob: `mutation CancelJob($id: ID!) {
  cancelJob(id: $id) { ${JOB_FIELDS} }
}`,

  JobProgress: `subscription JobProgress($id: ID!) {
  jobProgress(id: $id) { ${JOB_FIELDS} }
}`,

  AuditEvents: `query AuditEvents($actor: String, $action: String, $first: Int!) {
  auditEvents(actor: $actor, action: $action, first: $first) { id actor action target details at }
}`,
} as const;

export type OperationName = keyof typeof OPERATIONS;
