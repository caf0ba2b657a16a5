// A ROC curve in plain SVG: false positive rate across, true positive rate up, the chance
// diagonal dashed, the AUC (with its 95% CI) in the title for screen readers.

import { fixed } from '../format.js';

const SIZE = 220;
const PAD = 36;

/**
 * @param {{ points: Array<{ fpr: number, tpr: number }>, auc: number | null, aucCi: number[] | null, label: string }} props
 */
export function RocPlot({ points, auc, aucCi, label }) {
  if (points.length < 2) return <p class="muted">No ROC curve yet (evaluate this version on the recorded labels).</p>;
  const inner = SIZE - 2 * PAD;
  const x = (/** @type {number} */ fpr) => PAD + fpr * inner;
  const y = (/** @type {number} */ tpr) => SIZE - PAD - tpr * inner;
  const sorted = [...points].sort((a, b) => a.fpr - b.fpr || a.tpr - b.tpr);
  const path = sorted.map((p, i) => `${i ? 'L' : 'M'}${x(p.fpr).toFixed(1)},${y(p.tpr).toFixed(1)}`).join(' ');
  const ci = aucCi && aucCi.length === 2 ? ` (95% CI ${fixed(aucCi[0])}–${fixed(aucCi[1])})` : '';
  const description = `ROC curve of ${label}: AUC ${fixed(auc)}${ci}, ${points.length} points`;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    <svg class="roc" viewBox={`0 0 ${SIZE} ${SIZE}`} width={SIZE} height={SIZE} role="img" aria-label={description}>
      <title>{description}</title>
      <rect x={PAD} y={PAD} width={inner} height={inner} class="roc-frame" />
      {ticks.map((t) => (
        <g key={t}>
          <line x1={x(t)} y1={SIZE - PAD} x2={x(t)} y2={SIZE - PAD + 4} class="roc-axis" />
          <text x={x(t)} y={SIZE - PAD + 14} class="roc-tick" text-anchor="middle">
            {t}
          </text>
          <line x1={PAD - 4} y1={y(t)} x2={PAD} y2={y(t)} class="roc-axis" />
          <text x={PAD - 5} y={y(t) + 3} class="roc-tick" text-anchor="end">
            {t}
          </text>
        </g>
      ))}
      <line x1={x(0)} y1={y(0)} x2={x(1)} y2={y(1)} class="roc-chance" />
      <path d={path} class="roc-curve" />
      <text x={PAD + inner / 2} y={SIZE - 4} class="roc-label" text-anchor="middle">
        false positive rate
      </text>
      <text x={8} y={PAD + inner / 2} class="roc-label" text-anchor="middle" transform={`rotate(-90 8 ${PAD + inner / 2})`}>
        true positive rate
      </text>
      <text x={x(1) - 4} y={y(0) - 6} class="roc-auc" text-anchor="end">
        AUC {fixed(auc)}
      </text>
    </svg>
  );
}
