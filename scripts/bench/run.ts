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
//   model's resolution  readPart10 + decodeImage as the service calls it for the shipped default
//                  model (decodeOptions: JPEG 2000 level with twice the model's pixels per side)
//
// Then 12-bit lossy JPEG (issue 20): the same image transcoded by gdcmconv --raw and dcmtk's
// dcmcjpeg +ee, decoded by mammocad (wasm dcmjs-codecs) against dcmtk's dcmdjpeg as a whole command.
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
import { readPackage } from '../../src/ml/registry/index.js';
import { createModelRuntime } from '../../src/ml/runtime/index.js';
import { decodeOptions } from '../../src/pipeline/fetch-study-images.js';
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

  const runtime = await createModelRuntime([await readPackage(path.join(PROJECT_ROOT, 'models', 'default'))]);
  let atModel = '';
  const modelResolution = await time(RUNS, 1, async () => {
    const image = await decodeImage(readPart10(bytes, FILE), decodeOptions(runtime));
    atModel = `${image.width}x${image.height} Float32 (level ${image.resolutionLevel})`;
  });
  await runtime.dispose();
  rows.push({ decoder: "mammocad at the shipped model's resolution (decodeImage + decodeOptions, as the service)", runs: RUNS, medianMs: median(modelResolution), output: atModel });

  console.log(`Decoding ${path.basename(FILE)} (${size}, ${(encoded.length / 2 ** 20).toFixed(1)} MiB of JPEG 2000)\n`);
  printTable(rows, gdcm.durations ? { name: 'GDCM', ms: median(gdcm.durations) } : null);

  console.log(`\n12-bit lossy JPEG (the same image: gdcmconv --raw, then dcmcjpeg +ee)\n`);
  const jpeg12 = await jpeg12Rows();
  printTable(jpeg12, jpeg12[1]!.medianMs ? { name: 'dcmtk', ms: jpeg12[1]!.medianMs } : null);
  console.log(`\nMachine: ${machine()}`);
  console.log(`Command: npm run bench (MAMMOCAD_BENCH_RUNS=${RUNS}, MAMMOCAD_BENCH_JS_RUNS=${JS_RUNS})`);
}

/** The table, with each row's time as a multiple of the first row's and, if given, of a native reference. */
function printTable(rows: readonly Row[], native: { name: string; ms: number } | null): void {
  const reference = rows[0]!.medianMs!;
  console.log(`| decoder | runs | median ms | x first row |${native ? ` x ${native.name} |` : ''} output | note |`);
  console.log(`|---|---:|---:|---:|${native ? '---:|' : ''}---|---|`);
  for (const row of rows) {
    const ms = row.medianMs === null ? 'n/a' : row.medianMs.toFixed(0);
    const ratio = row.medianMs === null ? 'n/a' : (row.medianMs / reference).toFixed(2);
    const nativeRatio = native ? ` ${row.medianMs === null ? 'n/a' : (row.medianMs / native.ms).toFixed(2)} |` : '';
    console.log(`| ${row.decoder} | ${row.runs} | ${ms} | ${ratio} |${nativeRatio} ${row.output} | ${row.note ?? ''} |`);
  }
}

/** 12-bit JPEG: mammocad and dcmtk's dcmdjpeg. */
async function jpeg12Rows(): Promise<Row[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mammocad-bench-jpeg12-'));
  try {
    const raw = path.join(dir, 'raw.dcm');
    const jpeg = path.join(dir, 'jpeg12.dcm');
    execFileSync('gdcmconv', ['--raw', FILE, raw]);
    execFileSync('dcmcjpeg', ['+ee', raw, jpeg]);
    const bytes = readFileSync(jpeg);
    let size = '';
    const durations = await time(RUNS, 1, async () => {
      const image = await decodeImage(readPart10(bytes, jpeg));
      size = `${image.width}x${image.height} Float32`;
    });
    const rows: Row[] = [{ decoder: 'mammocad: readPart10 + decodeImage (wasm dcmjs-codecs + post-processing)', runs: RUNS, medianMs: median(durations), output: size }];
    const dcmtk = await timeCommand('dcmdjpeg', (output) => [jpeg, output]);
    rows.push({ decoder: 'dcmtk `dcmdjpeg` (native, whole command)', runs: NATIVE_RUNS, medianMs: dcmtk.durations && median(dcmtk.durations), output: 'DICOM file', note: dcmtk.note });
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).message}`);
  process.exit(1);
});
