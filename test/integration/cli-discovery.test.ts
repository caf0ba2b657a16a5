// `mammocad discover` and `mammocad poll` against a real Orthanc, as an operator would run them.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { runCli } from '../support/cli.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';

describe.skipIf(!LocalOrthanc.available())('discovery commands', () => {
  let orthanc: LocalOrthanc;
  let env: Record<string, string>;

  beforeAll(async () => {
    orthanc = new LocalOrthanc();
    await orthanc.start();
    env = {
      MAMMOCAD_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'mammocad-cli-discovery-')),
      MAMMOCAD_PACS_URL: orthanc.dicomwebUrl,
      MAMMOCAD_PACS_USERNAME: orthanc.username,
      MAMMOCAD_PACS_PASSWORD: orthanc.password,
    };
  });
  afterAll(() => orthanc?.stop());

  it('poll queues a new study once; discover reports it unchanged afterwards', async () => {
    const ids = newStudyIds();
    await new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 10_000 }).store([mammogram(ids).bytes]);

    const first = await runCli(['poll', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ new: 1, failed: 0 });
    const second = await runCli(['poll', '--json'], env);
    expect(JSON.parse(second.stdout)).toMatchObject({ new: 0, unchanged: 1 });

    const discover = await runCli(['discover', ids.studyUid, '--json'], env);
    expect(JSON.parse(discover.stdout)).toEqual({ studyUid: ids.studyUid, outcome: 'unchanged' });
  });

  it('discover names a malformed UID and a PACS that refuses the credentials', async () => {
    const malformed = await runCli(['discover', 'not-a-uid'], env);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain("VALIDATION_FAILED: StudyInstanceUID: 'not-a-uid' is not a DICOM UID");

    const refused = await runCli(['discover', '1.2.3.4'], { ...env, MAMMOCAD_PACS_PASSWORD: 'wrong' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('PACS_UNAUTHORIZED: GET /studies: the PACS answered 401, credentials refused');
  });
});
