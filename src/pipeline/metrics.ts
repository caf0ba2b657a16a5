// Prometheus metrics for operators, in the text exposition format (written by hand: a few
// gauges and one histogram do not justify a dependency). Job and model gauges are read from the
// database at scrape time, so every process reports the shared queue; stage latencies are this
// process's own (Prometheus sums them across processes).

import type { Store } from '../store/index.js';

/** Upper bounds (seconds) of the stage latency buckets: decoding and inference take 0.1-5 s. */
const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export class PipelineMetrics {
  private readonly stages = new Map<string, Histogram>();
  private readonly outcomes = new Map<string, number>();

  constructor(private readonly store: Store) {}

  /** Records a scored study's stage timings (milliseconds, as scoreStudy returns them). */
  recordStudy(outcome: string, timingsMs: Record<string, number> = {}): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    for (const [stage, ms] of Object.entries(timingsMs)) {
      const seconds = ms / 1000;
      const h = this.stages.get(stage) ?? { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      BUCKETS.forEach((bound, i) => {
        if (seconds <= bound) h.counts[i]!++;
      });
      h.sum += seconds;
      h.count++;
      this.stages.set(stage, h);
    }
  }

  async render(): Promise<string> {
    const [jobs, active, studies] = await Promise.all([this.store.jobs.countByStatus(), this.store.modelVersions.findActive(), this.store.search.countByStatus()]);
    const lines: string[] = [];
    lines.push('# HELP mammocad_jobs Jobs in the queue by state (all processes).', '# TYPE mammocad_jobs gauge');
    for (const [state, n] of Object.entries(jobs)) lines.push(`mammocad_jobs{state="${state}"} ${n}`);
    lines.push('# HELP mammocad_queue_depth Jobs waiting to run.', '# TYPE mammocad_queue_depth gauge', `mammocad_queue_depth ${jobs.queued}`);
    lines.push('# HELP mammocad_model_info The active model version (value 1).', '# TYPE mammocad_model_info gauge');
    if (active) lines.push(`mammocad_model_info{version="${escapeLabel(active.version)}",architecture="${escapeLabel(active.architecture)}"} 1`);
    // Every status, pending and failed included: the counter below sees only what this process
    // finished, so a study stuck before scoring appeared nowhere.
    lines.push('# HELP mammocad_studies Studies in the database by status (all processes).', '# TYPE mammocad_studies gauge');
    for (const [status, n] of Object.entries(studies)) lines.push(`mammocad_studies{status="${status}"} ${n}`);
    lines.push('# HELP mammocad_studies_total Studies this process finished, by outcome.', '# TYPE mammocad_studies_total counter');
    for (const [outcome, n] of this.outcomes) lines.push(`mammocad_studies_total{outcome="${escapeLabel(outcome)}"} ${n}`);
    lines.push('# HELP mammocad_stage_seconds Time per scoring stage in this process.', '# TYPE mammocad_stage_seconds histogram');
    for (const [stage, h] of this.stages) {
      const label = `stage="${escapeLabel(stage)}"`;
      BUCKETS.forEach((bound, i) => lines.push(`mammocad_stage_seconds_bucket{${label},le="${bound}"} ${h.counts[i]}`));
      lines.push(`mammocad_stage_seconds_bucket{${label},le="+Inf"} ${h.count}`, `mammocad_stage_seconds_sum{${label}} ${h.sum}`, `mammocad_stage_seconds_count{${label}} ${h.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
