// A real compressed mammogram (the NEMA JPEG 2000 sample from the shared data) relabelled into a
// test study, whole or with its codestream header spoiled: the corrupt image of an otherwise
// good study, made with dcmodify (dcmtk) as a site's broken modality would send it.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { newUid, type StudyIds } from './dicom-factory.js';
import { sharedFile } from './shared-data.js';

const work = mkdtempSync(path.join(tmpdir(), 'mammocad-corrupt-'));

/** The NEMA JPEG 2000 mammogram, relabelled as an MG For Presentation image of `ids`' study. */
export function jpeg2000Mammogram(ids: StudyIds, corrupt: boolean): Uint8Array {
  const file = path.join(work, `${newUid()}.dcm`);
  copyFileSync(sharedFile('dicom', 'nema-wg04-mg1-j2ki.dcm'), file);
  const sop = newUid();
  const set = (tag: string, value: string) => ['-m', `(${tag})=${value}`];
  execFileSync('dcmodify', [
    '-nb', '-imt',
    ...set('0008,0016', '1.2.840.10008.5.1.4.1.1.1.2'), ...set('0002,0002', '1.2.840.10008.5.1.4.1.1.1.2'),
    ...set('0008,0018', sop), ...set('0002,0003', sop),
    ...set('0008,0060', 'MG'), ...set('0020,000d', ids.studyUid), ...set('0020,000e', newUid()),
    ...set('0010,0020', ids.patientId), ...set('0008,0020', ids.studyDate),
    file,
  ]);
  const bytes = new Uint8Array(readFileSync(file));
  if (corrupt) {
    // Overwrite the codestream's main header (SIZ onwards) with garbage, inside the first
    // 64 KiB fragment so the DICOM structure (the item tags between fragments) stays intact.
    // (Damage deeper in the tile data can decode "successfully" into wrong pixels: openjpeg
    // cannot tell, which is why lossless transfer is checked by the PACS, not by us.)
    const soc = Buffer.from(bytes).indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]));
    if (soc <= 0) throw new Error('no JPEG 2000 codestream found in the NEMA sample');
    for (let i = soc + 2; i < soc + 300; i++) bytes[i] = (i * 31) & 0xff;
  }
  writeFileSync(file, bytes);
  return bytes;
}
