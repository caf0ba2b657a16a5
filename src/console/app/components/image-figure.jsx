// One image of a study as the service renders it from the PACS (at the size it is shown), with
// the model's heat map stretched over it; without the image endpoint, the heat map alone.

import { useEffect, useState } from 'preact/hooks';
import { fetchImage } from '../api.js';
import { Flags, Probability, StatusBadge } from './common.jsx';
import { viewName } from '../format.js';

/** @typedef {import('../../generated/operation-types.js').StudyResult['study']} Study */
/** @typedef {Study['images'][number]} StudyImage */
/** @typedef {Study['predictions'][number]} ImagePrediction */

/** Image sizes the service is asked for, so its cache serves repeated views. */
const SIZES = [512, 1024, 2048];

/** The smallest of SIZES covering `pixels` screen pixels (at the screen's pixel ratio). */
function sizeFor(/** @type {number} */ pixels) {
  const needed = Math.ceil(pixels * (window.devicePixelRatio || 1));
  return SIZES.find((s) => s >= needed) ?? SIZES[SIZES.length - 1] ?? 1024;
}

/**
 * One image: the service's rendering of it with the heat map stretched over it.
 * @param {{ study: Study, image: StudyImage, prediction: ImagePrediction | null, showHeatMap: boolean, large: boolean, onToggle: () => void }} props
 */
export function ImageFigure({ study, image, prediction, showHeatMap, large, onToggle }) {
  const [picture, setPicture] = useState(/** @type {{ url: string | null, reason?: string } | null} */ (null));
  const size = sizeFor(large ? window.innerHeight * 0.8 : 400);
  useEffect(() => {
    let current = true;
    /** @type {string | null} */
    let url = null;
    setPicture(null);
    fetchImage(study.studyInstanceUid, image.sopInstanceUid, size).then((result) => {
      if (result.url) url = result.url;
      if (current) setPicture(result);
      else if (url) URL.revokeObjectURL(url);
    });
    return () => {
      current = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [study.studyInstanceUid, image.sopInstanceUid, size]);

  const name = viewName(image);
  const aspect = image.rows && image.columns ? `${image.columns} / ${image.rows}` : '3 / 4';
  const overlay = prediction?.heatMapOverlayPng;
  return (
    <figure class={`image${large ? ' large' : ''}`} data-sop={image.sopInstanceUid} data-view={name}>
      <div class="image-frame" style={{ aspectRatio: aspect }}>
        {picture?.url ? <img class="pixels" src={picture.url} alt={`${name} mammogram`} /> : null}
        {overlay && showHeatMap ? <img class="overlay" src={`data:image/png;base64,${overlay}`} alt={`Heat map of the ${name} image`} /> : null}
        {!picture ? (
          <span class="image-note" role="status">
            Loading image…
          </span>
        ) : null}
        {picture && !picture.url ? <span class="image-note">{picture.reason}</span> : null}
      </div>
      <figcaption>
        <strong>{name}</strong> {prediction ? <Probability probability={prediction.probability} positive={prediction.positive} label={`${name}: probability of malignancy`} /> : <StatusBadge status={image.status} title={image.statusReason} />}
        <span class="muted image-meta">
          {image.columns && image.rows ? `${image.columns}×${image.rows}` : ''} {image.modality ?? ''}
          {image.viewModifiers.length ? ` · ${image.viewModifiers.join(', ')}` : ''}
          {prediction?.regions.length ? ` · ${prediction.regions.length} marked region${prediction.regions.length > 1 ? 's' : ''}` : ''}
        </span>
        <Flags flags={prediction?.flags} />
        <button type="button" class="link" onClick={onToggle} aria-expanded={large}>
          {large ? 'Close large view' : `Enlarge ${name}`}
        </button>
      </figcaption>
    </figure>
  );
}
