// The trainer's progress reports (the train job's progress JSON, docs/training.md) as an update
// of the command line's progress line: epochs done of the run's total, the trainer's own time
// left, and where the run is ("fold 2/4 stage2 phase1-top epoch 3/8, loss 0.412, val AUC 0.71").

import type { ProgressUpdate } from './progress-reporter.js';

const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);
const str = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

export function trainingProgressUpdate(progress: unknown): ProgressUpdate {
  if (progress === null || typeof progress !== 'object' || Array.isArray(progress)) return {};
  const p = progress as Record<string, unknown>;
  const update: ProgressUpdate = {};
  const done = num(p.epochsDone);
  const total = num(p.epochsTotal);
  if (done !== null) update.done = done;
  if (total !== null && total > 0) update.total = total;
  if (p.etaSeconds !== undefined) update.etaSeconds = num(p.etaSeconds);

  const stage = str(p.stage);
  const fold = str(p.fold);
  const where = fold === null ? [] : [fold === 'final' ? 'final model' : `fold ${fold}`];
  if (stage === 'data') {
    update.phase = 'reading the data set';
  } else if (stage === 'done') {
    const auc = num(p.auc);
    update.phase = `packaging${auc === null ? '' : `, cross-validated AUC ${auc.toFixed(3)}`}`;
  } else if (stage !== null) {
    const epoch = num(p.epoch);
    const epochs = num(p.epochs);
    const images = num(p.images);
    const steps = [...where, stage === 'evaluation' ? null : stage, str(p.phase)];
    if (epoch !== null && epochs !== null) steps.push(`epoch ${epoch}/${epochs}`);
    else if (images !== null) steps.push(`(${images} images)`);
    const metrics = [num(p.loss) === null ? null : `loss ${num(p.loss)!.toFixed(3)}`, num(p.valAuc) === null ? null : `val AUC ${num(p.valAuc)!.toFixed(2)}`];
    update.phase = [steps.filter(Boolean).join(' '), ...metrics].filter(Boolean).join(', ');
  }
  return update;
}
