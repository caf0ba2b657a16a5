// Progress of a long command (train, evaluate, convert) for a person watching it. On a terminal:
// one line redrawn in place with a bar, done/total, the rate, the time elapsed and left, and the
// phase. Anywhere else (a pipe, a log file, CI): plain lines, the start, then at most one per
// interval, then the end, so a log stays short and readable. Always on stderr: stdout carries
// the command's output, and with --json the reporter writes nothing, so that output parses as
// before. No colour and no escape sequences: the line is redrawn with \r and padded with spaces,
// which every terminal understands and NO_COLOR has nothing to turn off.

/** The part of a stream the reporter uses (process.stderr in the CLI, a fake in tests). */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  /** Terminal width; the line is cut to fit, since a wrapped line cannot be redrawn with \r. */
  columns?: number;
}

export type ProgressMode = 'tty' | 'plain' | 'silent';

export interface ProgressOptions {
  /** The command, as the line begins: 'train', 'evaluate', 'convert mias'. */
  label: string;
  /** What is counted: 'images', 'epochs'. */
  unit: string;
  /** The rate per second (items of a second or less) or per minute (epochs). Default second. */
  ratePer?: 'second' | 'minute';
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** false (--json): nothing at all is written. Default true. */
  enabled?: boolean;
  /** Plain lines: the least time between two progress lines (default 10 s). */
  intervalMs?: number;
  /** Terminal: the least time between two redraws for updates (default 100 ms). */
  redrawMs?: number;
  /** Terminal: the line is also redrawn this often, for the clocks alone (default 1 s; 0: never). */
  tickMs?: number;
  /** Milliseconds (default Date.now); tests pass a fake clock. */
  now?: () => number;
  /** Default process.env (TERM=dumb: plain lines, as in an editor's compilation buffer). */
  env?: Record<string, string | undefined>;
}

export interface ProgressUpdate {
  done?: number;
  /** null: not known (no bar, no time left from the rate). */
  total?: number | null;
  /** What is being done now, e.g. "fold 2/4 stage2 phase1-top epoch 3/8". */
  phase?: string;
  /** Time left as the work itself estimates it (the trainer does, from its epoch log); else from the rate. */
  etaSeconds?: number | null;
}

const BAR_WIDTH = 20;

/** Seconds as a person reads them: 42s, 3m07s, 2h05m. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Which way the reporter writes to `stream`. */
export function progressMode(stream: ProgressStream, enabled: boolean, env: Record<string, string | undefined>): ProgressMode {
  if (!enabled) return 'silent';
  return stream.isTTY === true && env.TERM !== 'dumb' ? 'tty' : 'plain';
}

export class ProgressReporter {
  readonly mode: ProgressMode;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private startedAt: number | null = null;
  private done = 0;
  private total: number | null = null;
  private phase = '';
  /** The rate counts from the first count seen (a resumed run starts at its epochs done). */
  private baseline: { done: number; at: number } | null = null;
  private eta: { seconds: number; at: number } | null = null;
  /** The line now on the terminal ('' when none). */
  private drawn = '';
  private lastDrawAt = -Infinity;
  private lastLineAt = -Infinity;
  private timer: ReturnType<typeof setInterval> | null = null;
  private ended = false;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? Date.now;
    this.mode = progressMode(this.stream, options.enabled ?? true, options.env ?? process.env);
  }

  start(update: ProgressUpdate = {}): void {
    if (this.mode === 'silent' || this.startedAt !== null) return;
    this.startedAt = this.now();
    this.apply(update);
    if (this.mode === 'plain') {
      this.lastLineAt = this.startedAt;
      const what = this.total === null ? '' : `, ${this.total} ${this.options.unit}`;
      this.stream.write(`mammocad ${this.options.label}: started${what}${this.phase ? `, ${this.phase}` : ''}\n`);
      return;
    }
    this.draw();
    const tick = this.options.tickMs ?? 1_000;
    if (tick > 0) {
      this.timer = setInterval(() => this.draw(), tick);
      // The clock must never keep the process alive after the command is done.
      this.timer.unref();
    }
  }

  update(update: ProgressUpdate): void {
    if (this.mode === 'silent' || this.ended) return;
    if (this.startedAt === null) this.start();
    this.apply(update);
    const now = this.now();
    if (this.mode === 'tty') {
      if (now - this.lastDrawAt >= (this.options.redrawMs ?? 100)) this.draw();
    } else if (now - this.lastLineAt >= (this.options.intervalMs ?? 10_000)) {
      this.lastLineAt = now;
      this.stream.write(`mammocad ${this.options.label}: ${this.status(now, 'plain')}\n`);
    }
  }

  /**
   * Writes other output (whole lines: a log line, a command's line on stdout) without garbling the
   * progress line: on a terminal the line is blanked, the text written, the line drawn again.
   * Another stream that is no terminal (stdout into a file) does not share the screen.
   */
  write(text: string, to: ProgressStream = this.stream): void {
    if (this.mode !== 'tty' || !this.drawn || (to !== this.stream && to.isTTY !== true)) {
      to.write(text);
      return;
    }
    this.stream.write(`\r${' '.repeat(this.drawn.length)}\r`);
    to.write(text);
    this.stream.write(this.drawn);
  }

  /** Runs `work` between start and finish; when it throws, the line stops where it stood. */
  async track<T>(start: ProgressUpdate, work: () => Promise<T>): Promise<T> {
    this.start(start);
    try {
      const result = await work();
      this.finish();
      return result;
    } finally {
      this.stop();
    }
  }

  /** A destination for the logger (pino) that goes through write(). */
  readonly logStream = { write: (chunk: string): void => this.write(chunk) };

  /** The work is done: the final state, then the line ends. */
  finish(): void {
    if (this.mode === 'silent' || this.ended || this.startedAt === null) return;
    const now = this.now();
    if (this.mode === 'tty') {
      this.draw(true);
      this.stream.write('\n');
    } else {
      const count = this.count();
      const rate = this.rate(now);
      this.stream.write(`mammocad ${this.options.label}: done, ${count ? `${count} ` : ''}in ${formatDuration((now - this.startedAt) / 1000)}${rate === null ? '' : ` (${this.formatRate(rate)})`}\n`);
    }
    this.end();
  }

  /** The work stopped before the end (an error follows): the last state stays, on its own line. */
  stop(): void {
    if (this.mode === 'silent' || this.ended || this.startedAt === null) return;
    if (this.mode === 'tty') {
      this.draw();
      this.stream.write('\n');
    } else {
      const count = this.count();
      this.stream.write(`mammocad ${this.options.label}: stopped ${count ? `at ${count} ` : ''}after ${formatDuration((this.now() - this.startedAt) / 1000)}\n`);
    }
    this.end();
  }

  private end(): void {
    this.ended = true;
    this.drawn = '';
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private apply(update: ProgressUpdate): void {
    const now = this.now();
    if (update.total !== undefined) this.total = update.total;
    if (update.phase !== undefined) this.phase = update.phase;
    if (update.done !== undefined) {
      this.done = update.done;
      this.baseline ??= { done: update.done, at: now };
    }
    if (update.etaSeconds !== undefined) this.eta = update.etaSeconds === null ? null : { seconds: update.etaSeconds, at: now };
  }

  /** "3/40 epochs", "3 epochs" without a total, null before anything was counted. */
  private count(): string | null {
    if (this.total !== null) return `${this.done}/${this.total} ${this.options.unit}`;
    return this.baseline === null ? null : `${this.done} ${this.options.unit}`;
  }

  /** Items per second since the first count, null until one was done. */
  private rate(now: number): number | null {
    if (!this.baseline || this.done <= this.baseline.done || now <= this.baseline.at) return null;
    return (this.done - this.baseline.done) / ((now - this.baseline.at) / 1000);
  }

  private formatRate(perSecond: number): string {
    const perMinute = this.options.ratePer === 'minute';
    const value = perMinute ? perSecond * 60 : perSecond;
    return `${value.toFixed(value < 10 ? 1 : 0)} ${this.options.unit}/${perMinute ? 'min' : 's'}`;
  }

  /** Seconds left: the work's own estimate, counted down since it came; else from the rate. */
  private secondsLeft(now: number): number | null {
    if (this.eta) return Math.max(0, this.eta.seconds - (now - this.eta.at) / 1000);
    const rate = this.rate(now);
    if (this.total === null || rate === null) return null;
    return Math.max(0, this.total - this.done) / rate;
  }

  /** done/total, rate, elapsed, left, phase: with a bar for the terminal, with the percentage for a plain line. */
  private status(now: number, style: 'bar' | 'plain', final = false): string {
    const rate = this.rate(now);
    const left = final ? null : this.secondsLeft(now);
    const phase = final ? 'done' : this.phase;
    const elapsed = formatDuration((now - (this.startedAt ?? now)) / 1000);
    const fraction = this.total ? Math.min(1, this.done / this.total) : null;
    const count = this.count() ?? '';
    const rateText = rate === null ? null : this.formatRate(rate);
    if (style === 'bar') {
      const filled = fraction === null ? 0 : Math.floor(fraction * BAR_WIDTH);
      const bar = fraction === null ? '' : `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] `;
      return [`${bar}${count}`, rateText, `${elapsed} elapsed`, left === null ? null : `${formatDuration(left)} left`, phase || null].filter(Boolean).join('  ');
    }
    const percent = fraction === null ? '' : ` (${Math.floor(fraction * 100)}%)`;
    return [`${count}${percent}`, rateText, `elapsed ${elapsed}`, left === null ? null : `left ${formatDuration(left)}`, phase || null].filter(Boolean).join(', ');
  }

  /** Redraws the terminal line, cut to the terminal's width. */
  private draw(final = false): void {
    if (this.mode !== 'tty' || this.ended) return;
    const now = this.now();
    this.lastDrawAt = now;
    let line = `${this.options.label} ${this.status(now, 'bar', final)}`;
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    if (line.length > width) line = `${line.slice(0, width - 1)}~`;
    // Spaces over the rest of a longer line drawn before.
    this.stream.write(`\r${line}${' '.repeat(Math.max(0, this.drawn.length - line.length))}`);
    this.drawn = line;
  }
}
