// The decoding benchmark (`npm run bench`): how long mammocad takes to turn a real JPEG 2000
// mammogram into pixels, and how the alternatives compare, in one run on one machine.
//
//   mammocad       readPart10 + decodeImage (wasm OpenJPEG and post-processing); median of
//                  MAMMOCAD_BENCH_RUNS (default 7) runs after a warm-up
//   codec only     the wasm OpenJPEG decode alone, to show what post-processing adds
//   reduced        wasm OpenJPEG decoding only the coarser wavelet levels (1: half size, 2: quarter)
//   plain-JS       the non-wasm build of the same codec (slow: MAMMOCAD_BENCH_JS_RUNS, default 2)
//   GDCM, dcmtk    native command-line decoders, timed as whole commands (process start and
//                  writing the output file included)
//
// The file defaults to ../shared/data/dicom/nema-wg04-mg1-j2ki.dcm (4664x3064, 12-bit, JPEG 2000
// irreversible); set MAMMOCAD_BENCH_FILE to time another one. Prints a markdown table and the machine.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/config/load-config.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { decodeJpeg2000, type OpenJpegModule } from '../../src/dicom/pixels/codecs.js';
import { decodeImage } from '../../src/dicom/pixels/decode-image.js';
import { JPEG_2000, JPEG_2000_LOSSLESS } from '../../src/dicom/pixels/transfer-syntaxes.js';
import { machine, median, time } from './measure.js';

const FILE = process.env.MAMMOCAD_BENCH_FILE ?? path.join(PROJECT_ROOT, '..', 'shared', 'data', 'dicom', 'nema-wg04-mg1-j2ki.dcm');
const RUNS = Number(process.env.MAMMOCAD_BENCH_RUNS ?? 7);
const JS_RUNS = Number(process.env.MAMMOCAD_BENCH_JS_RUNS ?? 2);
const NATIVE_RUNS = 5;

interface Row {
  decoder: string;
  runs: number;
  medianMs: number | null;
  output: string;
  note?: string;
}

/** Times a command-line decoder; null with its complaint when it cannot decode the file. */
async function timeCommand(command: string, args: (output: string) => string[]): Promise<{ durations: number[] | null; note?: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mammocad-bench-'));
  const output = path.join(dir, 'out.dcm');
  try {
    const durations = await time(NATIVE_RUNS, 1, () => execFileSync(command, args(output), { stdio: 'pipe' }));
    return { durations };
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim().split('\n').pop();
    return { durations: null, note: stderr || (error as Error).message };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const bytes = readFileSync(FILE);
  const file = readPart10(bytes, FILE);
  if (file.transferSyntaxUid !== JPEG_2000 && file.transferSyntaxUid !== JPEG_2000_LOSSLESS) {
    throw new Error(`${FILE}: the benchmark compares JPEG 2000 decoders; this file is ${file.transferSyntaxUid}`);
  }
  const encoded = file.frames.get(0);
  const rows: Row[] = [];

  let size = '';
  const ours = await time(RUNS, 1, async () => {
    const image = await decodeImage(readPart10(bytes, FILE));
    size = `${image.width}x${image.height}`;
  });
  rows.push({ decoder: 'mammocad: readPart10 + decodeImage (wasm OpenJPEG + post-processing)', runs: RUNS, medianMs: median(ours), output: `${size} Float32` });

  const codec = await time(RUNS, 1, () => decodeJpeg2000(encoded));
  rows.push({ decoder: 'wasm OpenJPEG alone (full resolution)', runs: RUNS, medianMs: median(codec), output: size });

  for (const level of [1, 2]) {
    let reduced = '';
    const durations = await time(RUNS, 1, async () => {
      const frame = await decodeJpeg2000(encoded, { resolutionLevel: level });
      reduced = `${frame.width}x${frame.height}`;
    });
    rows.push({ decoder: `wasm OpenJPEG, resolution level ${level} (1/${2 ** level} per side)`, runs: RUNS, medianMs: median(durations), output: reduced });
  }

  // The plain-JS build has the same API as the wasm one; it is loaded only here.
  const factory = createRequire(import.meta.url)('@cornerstonejs/codec-openjpeg') as (options: object) => Promise<OpenJpegModule>;
  const plain = await factory({ print: () => {}, printErr: () => {} });
  const plainJs = await time(JS_RUNS, 0, () => {
    const decoder = new plain.J2KDecoder();
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    decoder.decode();
    decoder.delete();
  });
  rows.push({ decoder: 'plain-JS OpenJPEG build (@cornerstonejs/codec-openjpeg default export)', runs: JS_RUNS, medianMs: median(plainJs), output: size, note: 'no warm-up' });

  const gdcm = await timeCommand('gdcmconv', (output) => ['--raw', FILE, output]);
  rows.push({ decoder: 'GDCM `gdcmconv --raw` (native, whole command)', runs: NATIVE_RUNS, medianMs: gdcm.durations && median(gdcm.durations), output: 'DICOM file', note: gdcm.note });
  const dcmtk = await timeCommand('dcmdjpeg', (output) => [FILE, output]);
  rows.push({ decoder: 'dcmtk `dcmdjpeg` (native, whole command)', runs: NATIVE_RUNS, medianMs: dcmtk.durations && median(dcmtk.durations), output: 'DICOM file', note: dcmtk.note });

  const reference = rows[0]!.medianMs!;
  console.log(`Decoding ${path.basename(FILE)} (${size}, ${(encoded.length / 2 ** 20).toFixed(1)} MiB of JPEG 2000)\n`);
  console.log('| decoder | runs | median ms | x mammocad | output | note |');
  console.log('|---|---:|---:|---:|---|---|');
  for (const row of rows) {
    const ms = row.medianMs === null ? 'n/a' : row.medianMs.toFixed(0);
    const ratio = row.medianMs === null ? 'n/a' : (row.medianMs / reference).toFixed(2);
    console.log(`| ${row.decoder} | ${row.runs} | ${ms} | ${ratio} | ${row.output} | ${row.note ?? ''} |`);
  }
  console.log(`\nMachine: ${machine()}`);
  console.log(`Command: npm run bench (MAMMOCAD_BENCH_RUNS=${RUNS}, MAMMOCAD_BENCH_JS_RUNS=${JS_RUNS})`);
}

main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).message}`);
  process.exit(1);
});
