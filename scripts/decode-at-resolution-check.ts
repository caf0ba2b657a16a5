// How far the shipped model's probabilities move when JPEG 2000 is decoded at a reduced
// resolution instead of in full (docs/benchmarks.md, "Decoding at the model's resolution"): six
// synthetic 3328 x 2560 phantoms at 0.065 mm, each encoded by gdcmconv reversibly and 10:1
// irreversibly, decoded both ways. K is the margin: how many times the model's pixels per side
// the reduced decode keeps (worker.decodeResolutionMargin; the service's default is 2).
//
//   K=1 npx tsx scripts/decode-at-resolution-check.ts      (needs gdcmconv; ~1.5 min)

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildSyntheticMammogram } from '../src/dicom/convert/synthetic-mammogram.js';
import { readPart10 } from '../src/dicom/part10.js';
import { decodeImage } from '../src/dicom/pixels/decode-image.js';
import { readPackage } from '../src/ml/registry/index.js';
import { createModelRuntime } from '../src/ml/runtime/index.js';
const pkg = await readPackage('models/default');
const rt = await createModelRuntime([pkg]);
const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-decode-level-'));
const files: string[] = [];
for (const seed of ['a', 'b', 'c']) for (const view of ['CC', 'MLO'] as const) {
  let t = performance.now();
  const m = buildSyntheticMammogram({ seed, laterality: seed === 'b' ? 'R' : 'L', view, rows: 3328, columns: 2560, pixelSpacingMm: 0.065 });
  const raw = path.join(dir, `${seed}${view}.dcm`); writeFileSync(raw, m.bytes);
  const gen = performance.now() - t;
  for (const [name, args] of [['j2k', ['--j2k']], ['j2k-lossy', ['--j2k', '--lossy', '-r', '10']]] as const) {
    const out = path.join(dir, `${seed}${view}-${name}.dcm`); t = performance.now(); execFileSync('gdcmconv', [...args, raw, out]); files.push(out);
    if (name === 'j2k') console.log('gen', gen.toFixed(0), 'gdcmconv', (performance.now() - t).toFixed(0));
  }
}
const diffs: number[] = [];
for (const f of files) {
  const file = readPart10(new Uint8Array(readFileSync(f)), f);
  const full = await decodeImage(file);
  const k = Number(process.env.K ?? 2);
  const red = await decodeImage(file, { minimumSize: (s) => { const m = rt.minimumSize(s); return { width: m.width * k, height: m.height * k }; } });
  const [pf, pr] = [(await rt.score([full]))[0]!, (await rt.score([red]))[0]!];
  diffs.push(Math.abs(pf - pr));
  console.log(path.basename(f), `${full.width}x${full.height} ${full.decodeMs.toFixed(0)} ms -> level ${red.resolutionLevel} ${red.width}x${red.height} ${red.decodeMs.toFixed(0)} ms`, red.pixelSpacingMm, 'p', pf.toFixed(4), pr.toFixed(4));
}
console.log('max |dp|', Math.max(...diffs).toFixed(4));
await rt.dispose();
rmSync(dir, { recursive: true, force: true });
