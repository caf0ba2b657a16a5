// The command line's progress line, on fake streams and a fake clock: redrawn in place on a
// terminal, throttled plain lines elsewhere, nothing at all with --json; log lines and stdout
// lines written through it never land inside the line; and the trainer's progress reports as
// the line shows them.

import { describe, expect, it } from 'vitest';
import { ProgressReporter, formatDuration, progressMode, type ProgressOptions } from '../../src/cli/progress-reporter.js';
import { trainingProgressUpdate } from '../../src/cli/training-progress.js';

class FakeStream {
  chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns = 200,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
  /** What a terminal would show: \r returns to the start of the line, later characters overwrite. */
  get screen(): string[] {
    const lines: string[] = [''];
    let column = 0;
    for (const ch of this.text) {
      if (ch === '\r') column = 0;
      else if (ch === '\n') {
        lines.push('');
        column = 0;
      } else {
        const line = lines[lines.length - 1]!;
        lines[lines.length - 1] = line.slice(0, column) + ch + line.slice(column + 1);
        column++;
      }
    }
    return lines.map((l) => l.trimEnd());
  }
}

function reporter(stream: FakeStream, options: Partial<ProgressOptions> = {}) {
  const clock = { ms: 1_000_000 };
  const progress = new ProgressReporter({ label: 'evaluate', unit: 'images', stream, now: () => clock.ms, tickMs: 0, env: {}, ...options });
  const advance = (seconds: number) => (clock.ms += seconds * 1000);
  return { progress, advance };
}

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [42.4, '42s'],
    [59.6, '1m00s'],
    [187, '3m07s'],
    [3599, '59m59s'],
    [3600, '1h00m'],
    [7530, '2h05m'],
    [90_000, '25h00m'],
    [-3, '0s'],
  ])('%s s -> %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe('progressMode', () => {
  it('draws on a terminal, writes plain lines elsewhere and on a dumb terminal, nothing when disabled', () => {
    expect(progressMode({ write: () => true, isTTY: true }, true, {})).toBe('tty');
    expect(progressMode({ write: () => true, isTTY: true }, true, { TERM: 'dumb' })).toBe('plain');
    expect(progressMode({ write: () => true }, true, {})).toBe('plain');
    expect(progressMode({ write: () => true, isTTY: true }, false, {})).toBe('silent');
  });
});

describe('ProgressReporter on a terminal', () => {
  it('redraws one line with \\r: bar, done/total, rate, elapsed, time left, phase', () => {
    const stream = new FakeStream(true);
    const { progress, advance } = reporter(stream);
    progress.start({ done: 0, total: 40, phase: 'scoring' });
    advance(10);
    progress.update({ done: 10 });
    expect(stream.chunks.every((c) => c.startsWith('\r'))).toBe(true);
    expect(stream.text).not.toContain('\n');
    // 10 images in 10 s: 1.0/s, 30 left -> 30 s.
    expect(stream.screen).toEqual(['evaluate [#####...............] 10/40 images  1.0 images/s  10s elapsed  30s left  scoring']);
    advance(50);
    progress.update({ done: 40, phase: 'AUC and bootstrap CI' });
    progress.finish();
    expect(stream.screen).toEqual(['evaluate [####################] 40/40 images  0.7 images/s  1m00s elapsed  done', '']);
    // No escape sequence, no colour: only \r, spaces and the final \n move the cursor.
    expect(stream.text).not.toContain('\x1b');
  });

  it('blanks what is left of a longer line before, and cuts the line to the terminal width', () => {
    const stream = new FakeStream(true, 40);
    const { progress } = reporter(stream, { redrawMs: 0 });
    progress.start({ done: 0, total: 2, phase: 'a rather long phase name that does not fit' });
    expect(stream.screen[0]!.length).toBeLessThanOrEqual(39);
    expect(stream.screen[0]!.endsWith('~')).toBe(true);
    const wide = new FakeStream(true, 200);
    const second = reporter(wide, { redrawMs: 0 }).progress;
    second.start({ done: 0, total: 2, phase: 'a rather long phase name' });
    second.update({ phase: 'short' });
    expect(wide.screen).toEqual(['evaluate [....................] 0/2 images  0s elapsed  short']);
  });

  it('throttles redraws of updates (the last state is drawn by finish)', () => {
    const stream = new FakeStream(true);
    const { progress, advance } = reporter(stream, { redrawMs: 100 });
    progress.start({ done: 0, total: 1000 });
    for (let i = 1; i <= 100; i++) {
      advance(0.01);
      progress.update({ done: i });
    }
    // 100 updates over 1 s: the start, then one draw per 100 ms.
    expect(stream.chunks.length).toBeLessThanOrEqual(11);
    expect(stream.chunks.length).toBeGreaterThanOrEqual(9);
  });

  it('counts the rate from the first count seen and prefers the work\'s own time left, counting it down', () => {
    const stream = new FakeStream(true);
    const { progress, advance } = reporter(stream, { label: 'train', unit: 'epochs', ratePer: 'minute' });
    progress.start({ phase: 'starting' });
    // Nothing counted yet: no count, no bar (the plan is known once the data is read).
    expect(stream.screen).toEqual(['train 0s elapsed  starting']);
    advance(30);
    // A resumed run: 12 epochs were done before this process started.
    progress.update({ done: 12, total: 40, etaSeconds: 3600, phase: 'fold 2/4 stage2 phase1-top epoch 3/8' });
    expect(stream.screen[0]).toBe('train [######..............] 12/40 epochs  30s elapsed  1h00m left  fold 2/4 stage2 phase1-top epoch 3/8');
    advance(120);
    progress.update({ done: 13 });
    // One epoch in 2 minutes: 0.5 epochs/min; the trainer's 1 h, 2 min later: 58 min.
    expect(stream.screen[0]).toBe('train [######..............] 13/40 epochs  0.5 epochs/min  2m30s elapsed  58m00s left  fold 2/4 stage2 phase1-top epoch 3/8');
  });

  it('writes log lines and stdout lines on their own lines, the progress line drawn again below them', () => {
    const stderr = new FakeStream(true);
    const stdout = new FakeStream(true);
    const { progress } = reporter(stderr);
    progress.start({ done: 0, total: 3, phase: 'converting' });
    progress.logStream.write('{"level":30,"msg":"a log line"}\n');
    progress.write('w001/mdb001.dcm: R MLO, normal\n', stdout);
    expect(stderr.screen).toEqual(['{"level":30,"msg":"a log line"}', 'evaluate [....................] 0/3 images  0s elapsed  converting']);
    expect(stdout.text).toBe('w001/mdb001.dcm: R MLO, normal\n');
    // Before stdout's line, the progress line was blanked: both share the terminal.
    expect(stderr.chunks.at(-2)).toMatch(/^\r +\r$/);
    // stdout into a file does not share it: the progress line stays as it is.
    const before = stderr.chunks.length;
    const file = new FakeStream(false);
    progress.write('w001/mdb002.dcm: L MLO, normal\n', file);
    expect(file.text).toBe('w001/mdb002.dcm: L MLO, normal\n');
    expect(stderr.chunks.length).toBe(before);
  });

  it('stops where it stood when the work fails, so the error starts on its own line', async () => {
    const stream = new FakeStream(true);
    const { progress } = reporter(stream);
    await expect(
      progress.track({ done: 0, total: 5 }, async () => {
        progress.update({ done: 2 });
        throw new Error('broken file');
      }),
    ).rejects.toThrow('broken file');
    expect(stream.text.endsWith('\n')).toBe(true);
    expect(stream.screen[0]).toMatch(/^evaluate \[.*\] 2\/5 images/);
    progress.update({ done: 3 });
    expect(stream.screen).toHaveLength(2); // nothing after the end
  });
});

describe('ProgressReporter elsewhere (not a terminal)', () => {
  it('writes the start, at most one line per interval, and the end, as plain lines', () => {
    const stream = new FakeStream(false);
    const { progress, advance } = reporter(stream, { intervalMs: 10_000 });
    progress.start({ done: 0, total: 100, phase: 'scoring' });
    for (let i = 1; i <= 100; i++) {
      advance(0.5);
      progress.update({ done: i });
    }
    progress.finish();
    // 50 s of updates every 0.5 s: lines at 10, 20, 30, 40 and 50 s, with the start and the end.
    expect(stream.text.split('\n')).toEqual([
      'mammocad evaluate: started, 100 images, scoring',
      'mammocad evaluate: 20/100 images (20%), 2.0 images/s, elapsed 10s, left 40s, scoring',
      'mammocad evaluate: 40/100 images (40%), 2.0 images/s, elapsed 20s, left 30s, scoring',
      'mammocad evaluate: 60/100 images (60%), 2.0 images/s, elapsed 30s, left 20s, scoring',
      'mammocad evaluate: 80/100 images (80%), 2.0 images/s, elapsed 40s, left 10s, scoring',
      'mammocad evaluate: 100/100 images (100%), 2.0 images/s, elapsed 50s, left 0s, scoring',
      'mammocad evaluate: done, 100/100 images in 50s (2.0 images/s)',
      '',
    ]);
    expect(stream.text).not.toContain('\r');
    expect(stream.text).not.toContain('\x1b');
  });

  it('passes other output through untouched and says where it stopped after a failure', () => {
    const stream = new FakeStream(false);
    const { progress, advance } = reporter(stream);
    progress.start({ done: 0, total: 4 });
    progress.logStream.write('{"msg":"log"}\n');
    advance(3);
    progress.update({ done: 1 });
    progress.stop();
    expect(stream.text).toBe('mammocad evaluate: started, 4 images\n{"msg":"log"}\nmammocad evaluate: stopped at 1/4 images after 3s\n');
  });
});

describe('ProgressReporter with --json', () => {
  it('writes nothing at all, on a terminal or not, and other output passes through', async () => {
    for (const isTTY of [true, false]) {
      const stream = new FakeStream(isTTY);
      const stdout = new FakeStream(false);
      const { progress, advance } = reporter(stream, { enabled: false });
      expect(progress.mode).toBe('silent');
      await progress.track({ done: 0, total: 3 }, async () => {
        for (let i = 1; i <= 3; i++) {
          advance(20);
          progress.update({ done: i });
          progress.write(`{"i":${i}}\n`, stdout);
        }
      });
      expect(stream.chunks).toEqual([]);
      expect(stdout.text).toBe('{"i":1}\n{"i":2}\n{"i":3}\n');
    }
  });
});

describe('trainingProgressUpdate', () => {
  it('reads an epoch report: epochs done of the run, the trainer\'s time left, where the run is', () => {
    expect(
      trainingProgressUpdate({ stage: 'stage2', phase: 'phase1-top', fold: '2/4', epoch: 3, epochs: 8, loss: 0.41234, valAuc: 0.7149, etaSeconds: 1200, epochsDone: 19, epochsTotal: 60 }),
    ).toEqual({ done: 19, total: 60, etaSeconds: 1200, phase: 'fold 2/4 stage2 phase1-top epoch 3/8, loss 0.412, val AUC 0.71' });
  });

  it.each([
    [{ stage: 'data', phase: 'reading', runId: 'r' }, { phase: 'reading the data set' }],
    [{ stage: 'stage1', phase: 'sampling patches', fold: 'final', etaSeconds: null, epochsDone: 0, epochsTotal: 9 }, { done: 0, total: 9, etaSeconds: null, phase: 'final model stage1 sampling patches' }],
    [{ stage: 'evaluation', phase: 'scoring validation images', fold: '1/2', images: 6, etaSeconds: 30 }, { etaSeconds: 30, phase: 'fold 1/2 scoring validation images (6 images)' }],
    [{ stage: 'done', version: 'v1', auc: 0.6512, etaSeconds: 0, epochsDone: 9, epochsTotal: 9 }, { done: 9, total: 9, etaSeconds: 0, phase: 'packaging, cross-validated AUC 0.651' }],
    [null, {}],
    [[1, 2], {}],
    [{ epochsDone: 'x', epochsTotal: 0 }, {}],
  ])('%j -> %j', (progress, update) => {
    expect(trainingProgressUpdate(progress)).toEqual(update);
  });
});
