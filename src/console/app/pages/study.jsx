// One study: its images as the service renders them from the PACS, with the model's heat map
// over each (components/image-figure.jsx); the probabilities per image, breast and exam; the
// structured report's state; the labels recorded, and a form to record one
// (components/labels.jsx).

import { useEffect, useMemo, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorMessage, Flags, Loading, Page, Probability, StatusBadge } from '../components/common.jsx';
import { ImageFigure } from '../components/image-figure.jsx';
import { Labels } from '../components/labels.jsx';
import { dateTime, fixed, shortUid, side, viewName, words } from '../format.js';
import { href } from '../router.js';

/** @typedef {import('../../generated/operation-types.js').StudyResult['study']} Study */
/** @typedef {Study['images'][number]} StudyImage */
/** @typedef {Study['predictions'][number]} ImagePrediction */
/** @typedef {import('../../generated/operation-types.js').ModelVersionsResult['modelVersions'][number]} ModelVersion */

/** Longest side of the heat-map overlays asked for (they are smooth: stretched over the image). */
const OVERLAY_SIZE = 512;
const VIEW_ORDER = ['CC', 'MLO'];

/** Screening order: right then left, CC then MLO; other views after. */
function hangingOrder(/** @type {StudyImage} */ a, /** @type {StudyImage} */ b) {
  const view = (/** @type {StudyImage} */ i) => {
    const at = VIEW_ORDER.indexOf(i.view ?? '');
    return at < 0 ? VIEW_ORDER.length : at;
  };
  const lat = (/** @type {StudyImage} */ i) => (i.laterality === 'R' ? 0 : i.laterality === 'L' ? 1 : 2);
  return view(a) - view(b) || lat(a) - lat(b) || a.sopInstanceUid.localeCompare(b.sopInstanceUid);
}

/** @param {{ uid: string }} props */
export function StudyPage({ uid }) {
  const [study, setStudy] = useState(/** @type {Study | null} */ (null));
  const [models, setModels] = useState(/** @type {ModelVersion[]} */ ([]));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [showHeatMap, setShowHeatMap] = useState(true);
  const [enlarged, setEnlarged] = useState(/** @type {string | null} */ (null));

  useEffect(() => {
    let current = true;
    setStudy(null);
    setError(null);
    gql('Study', { studyInstanceUid: uid, overlaySize: OVERLAY_SIZE }).then(
      (d) => current && setStudy(d.study),
      (caught) => current && setError(caught),
    );
    gql('ModelVersions', {}).then(
      (d) => current && setModels(d.modelVersions),
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [uid]);

  const version = study?.exam?.modelVersion ?? models.find((m) => m.active)?.version ?? null;
  const model = models.find((m) => m.version === version) ?? null;
  /** The image results of the model version the exam result is from. */
  const predictionOf = useMemo(() => {
    const map = new Map(/** @type {Array<[string, ImagePrediction]>} */ ((study?.predictions ?? []).filter((p) => p.modelVersion === version && p.sopInstanceUid).map((p) => [p.sopInstanceUid ?? '', p])));
    return (/** @type {string} */ sop) => map.get(sop) ?? null;
  }, [study, version]);

  if (error) {
    return (
      <Page title="Study">
        <ErrorMessage error={error} />
        <p>
          <a href={href('worklist')}>Back to the worklist</a>
        </p>
      </Page>
    );
  }
  if (!study) return <Loading what="Loading the study" />;

  const images = [...study.images].sort(hangingOrder);
  const shown = images.filter((i) => i.status !== 'skipped' || predictionOf(i.sopInstanceUid));
  const big = enlarged ? images.find((i) => i.sopInstanceUid === enlarged) : null;

  return (
    <Page
      title={`Study ${study.studyDate ?? ''} · ${study.patientId ?? 'no patient ID'}`}
      actions={
        <a class="button secondary" href={href('worklist')}>
          ← Worklist
        </a>
      }
    >
      <dl class="summary">
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={study.status} /> {study.statusReason ? <span class="muted">{study.statusReason}</span> : null}
          </dd>
        </div>
        <div>
          <dt>Accession</dt>
          <dd>{study.accessionNumber ?? '–'}</dd>
        </div>
        <div>
          <dt>Description</dt>
          <dd>{study.description ?? '–'}</dd>
        </div>
        <div>
          <dt>Study Instance UID</dt>
          <dd class="uid">{study.studyInstanceUid}</dd>
        </div>
        <div>
          <dt>Exam probability</dt>
          <dd class="exam-probability">
            <Probability probability={study.exam?.probability} positive={study.exam?.positive} />
          </dd>
        </div>
        <div>
          <dt>Model</dt>
          <dd>
            {version ?? '–'}
            {model ? ` (threshold ${fixed(model.threshold)})` : ''}
          </dd>
        </div>
      </dl>
      {model && model.beatsChance !== true ? (
        <p class="warning" role="note">
          Model {model.version} has not shown that it tells malignant from other images (its AUC's 95% CI {model.beatsChance === false ? 'is not above 0.5' : 'is unknown'}): its probabilities are
          not evidence of malignancy.
        </p>
      ) : null}
      <Flags flags={study.exam?.flags} />

      <section aria-labelledby="images-title">
        <div class="section-head">
          <h2 id="images-title">Images</h2>
          <div class="field checkbox">
            <input id="show-heatmap" type="checkbox" checked={showHeatMap} onChange={(e) => setShowHeatMap(/** @type {HTMLInputElement} */ (e.currentTarget).checked)} />
            <label for="show-heatmap">Show heat map</label>
          </div>
        </div>
        {big ? (
          <div class="enlarged" onKeyDown={(e) => e.key === 'Escape' && setEnlarged(null)}>
            <ImageFigure study={study} image={big} prediction={predictionOf(big.sopInstanceUid)} showHeatMap={showHeatMap} large onToggle={() => setEnlarged(null)} />
          </div>
        ) : null}
        <div class="image-grid">
          {shown.length === 0 ? <p class="muted">No images to show.</p> : null}
          {shown.map((image) => (
            <ImageFigure
              key={image.sopInstanceUid}
              study={study}
              image={image}
              prediction={predictionOf(image.sopInstanceUid)}
              showHeatMap={showHeatMap}
              large={false}
              onToggle={() => setEnlarged(enlarged === image.sopInstanceUid ? null : image.sopInstanceUid)}
            />
          ))}
        </div>
      </section>

      <div class="columns">
        <section aria-labelledby="results-title">
          <h2 id="results-title">Results</h2>
          <table class="results">
            <caption class="visually-hidden">Probability of malignancy per breast and per image</caption>
            <thead>
              <tr>
                <th scope="col">Level</th>
                <th scope="col">Probability</th>
                <th scope="col">Out of distribution</th>
              </tr>
            </thead>
            <tbody>
              <tr>
                <th scope="row">Exam</th>
                <td>
                  <Probability probability={study.exam?.probability} positive={study.exam?.positive} />
                </td>
                <td>{study.exam ? (study.exam.outOfDistributionFlagged ? `flagged (${fixed(study.exam.outOfDistribution)})` : fixed(study.exam.outOfDistribution)) : '–'}</td>
              </tr>
              {study.breasts.map((breast) => (
                <tr key={`breast-${breast.laterality}`} data-breast={breast.laterality ?? ''}>
                  <th scope="row">{side(breast.laterality)} breast</th>
                  <td>
                    <Probability probability={breast.probability} positive={breast.positive} />
                  </td>
                  <td>
                    <Flags flags={breast.flags} />
                  </td>
                </tr>
              ))}
              {images.map((image) => {
                const p = predictionOf(image.sopInstanceUid);
                return (
                  <tr key={`image-${image.sopInstanceUid}`} data-image={image.sopInstanceUid}>
                    <th scope="row" title={image.sopInstanceUid}>
                      {viewName(image)} image
                    </th>
                    <td>{p ? <Probability probability={p.probability} positive={p.positive} /> : <span class="muted">{words(image.status)}{image.statusReason ? `: ${image.statusReason}` : ''}</span>}</td>
                    <td>{p ? (p.outOfDistributionFlagged ? `flagged (${fixed(p.outOfDistribution)})` : fixed(p.outOfDistribution)) : '–'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>

          <h2 id="reports-title">Structured reports</h2>
          {study.reports.length === 0 ? (
            <p class="muted">No report written to the PACS{study.statusReason ? ` (${study.statusReason})` : ''}.</p>
          ) : (
            <table class="reports" aria-labelledby="reports-title">
              <thead>
                <tr>
                  <th scope="col">SR</th>
                  <th scope="col">Template</th>
                  <th scope="col">State</th>
                  <th scope="col">Stored</th>
                  <th scope="col">Model</th>
                </tr>
              </thead>
              <tbody>
                {study.reports.map((report) => (
                  <tr key={report.sopInstanceUid} data-report={report.sopInstanceUid}>
                    <td class="uid" title={report.sopInstanceUid}>
                      {shortUid(report.sopInstanceUid)}
                      {report.presentationStateSopInstanceUid ? <span class="muted"> + presentation state</span> : null}
                    </td>
                    <td>{report.template}</td>
                    <td>
                      <StatusBadge status={report.status} />
                    </td>
                    <td>{dateTime(report.storedOn)}</td>
                    <td>{report.modelVersion}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>

        <Labels study={study} images={images} onAdded={(added) => setStudy({ ...study, labels: [...study.labels, ...added] })} />
      </div>
    </Page>
  );
}
