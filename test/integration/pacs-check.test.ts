// `mammocad pacs check` against a real Orthanc (DICOMweb): all green, with the test SR gone
// afterwards; a wrong password; a PACS whose Lua ReceivedInstanceFilter discards the SR; a PACS
// that is down or silent (bounded, naming the setting); a STOW refused in its answer; the
// webhook endpoint with the right secret, a wrong one, and nothing listening. Then the real
// command, once with --json and once failing in human form.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { ValidationError } from '../../src/domain/index.js';
import { isUidLike } from '../../src/dicom/dicom-json.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { CONNECTIVITY_TEST_PATIENT, buildConnectivityTestSr } from '../../src/dicom/sr/index.js';
import { WEBHOOK_PATH, createHttpServer, listen } from '../../src/graphql/http-server.js';
import { checkPacs, type PacsCheckOptions, type PacsCheckResult } from '../../src/pipeline/pacs-check.js';
import { formatPacsCheck } from '../../src/cli/pacs.js';
import { LocalOrthanc, freePort } from '../../scripts/lib/local-orthanc.js';
import { runCli } from '../support/cli.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';

const work = mkdtempSync(path.join(tmpdir(), 'mammocad-pacs-check-'));
const installed = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const statuses = (result: PacsCheckResult) => Object.fromEntries(result.steps.map((s) => [s.name, s.status]));
const step = (result: PacsCheckResult, name: string) => result.steps.find((s) => s.name === name)!;

/** A real patient's study in the PACS: none of these may appear in the check's output. */
const patient = newStudyIds({ patientName: 'Privacy^Pauline', patientId: 'PID-PRIVATE-4711' });

describe('the connectivity test SR', () => {
  it('is marked as a test everywhere a PACS user looks, and holds no score', () => {
    const sr = buildConnectivityTestSr({ softwareVersion: '9.9.9' });
    const { dataset } = readPart10(sr.bytes, 'test SR');
    expect(dataset).toMatchObject({
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.88.11',
      StudyInstanceUID: sr.studyInstanceUid,
      PatientName: [{ Alphabetic: CONNECTIVITY_TEST_PATIENT.name }],
      PatientID: CONNECTIVITY_TEST_PATIENT.id,
      Modality: 'SR',
      Manufacturer: 'mammocad',
      SoftwareVersions: '9.9.9',
    });
    expect(String(dataset.StudyDescription)).toMatch(/connectivity test - not clinical, delete/);
    expect(JSON.stringify(dataset.ContentSequence)).toMatch(/holds no result/);
    expect(JSON.stringify(dataset)).not.toMatch(/"NUM"/);
    const again = buildConnectivityTestSr({ softwareVersion: '9.9.9' });
    expect(new Set([sr.studyInstanceUid, sr.seriesInstanceUid, sr.sopInstanceUid, again.studyInstanceUid, again.seriesInstanceUid, again.sopInstanceUid]).size).toBe(6);
  });

  it.skipIf(!installed('dciodvfy'))('dciodvfy finds no error or warning in it', () => {
    const file = path.join(work, 'test-sr.dcm');
    writeFileSync(file, buildConnectivityTestSr({ softwareVersion: '0.1.0' }).bytes);
    const run = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
    const lines = `${run.stdout}${run.stderr}`.split('\n').filter(Boolean);
    expect(lines).toEqual(['BasicTextSR']);
  });
});

describe.skipIf(!LocalOrthanc.available())('mammocad pacs check against Orthanc', () => {
  let orthanc: LocalOrthanc;
  let refusing: LocalOrthanc;
  let pacs: DicomwebClient;

  beforeAll(async () => {
    // A second Orthanc discards every SR of the connectivity-test patient, as a site's Lua policy would.
    const filter = path.join(work, 'refuse-test-sr.lua');
    writeFileSync(filter, `function ReceivedInstanceFilter(dicom, origin, info)\n  return not (dicom.Modality == 'SR' and dicom.PatientID == '${CONNECTIVITY_TEST_PATIENT.id}')\nend\n`);
    orthanc = new LocalOrthanc();
    refusing = new LocalOrthanc({ luaScripts: [filter] });
    await Promise.all([orthanc.start(), refusing.start()]);
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 10_000 });
    await pacs.store([mammogram(patient, { laterality: 'L', view: 'CC' }).bytes]);
  });
  afterAll(async () => {
    await Promise.all([orthanc?.stop(), refusing?.stop()]);
  });

  const settings = (target: LocalOrthanc, overrides: Partial<PacsCheckOptions['pacs']> = {}): PacsCheckOptions['pacs'] => ({
    url: target.dicomwebUrl,
    username: target.username,
    password: target.password,
    timeoutMs: 10_000,
    ...overrides,
  });

  function expectNoPatientData(result: PacsCheckResult): void {
    const shown = `${JSON.stringify(result)}\n${formatPacsCheck(result)}`;
    for (const secret of [patient.patientId, 'Privacy', 'Pauline', patient.studyUid, orthanc.password]) expect(shown).not.toContain(secret);
  }

  it('is all green against the test Orthanc, reads a real MG instance, and leaves no test SR behind', async () => {
    const result = await checkPacs({ pacs: settings(orthanc), softwareVersion: 'test' });
    expect(statuses(result), formatPacsCheck(result)).toEqual({ qido: 'ok', 'wado-metadata': 'ok', 'wado-retrieve': 'ok', stow: 'ok', cleanup: 'ok', webhook: 'skipped' });
    expect(result.ok).toBe(true);
    expect(step(result, 'wado-metadata').detail).toMatch(/^metadata of one MG instance \(study [0-9a-f]{12}\): \d+ attributes$/);
    expect(step(result, 'wado-retrieve').detail).toMatch(/^frame 1 of one MG instance \(study [0-9a-f]{12}\): .* in \d+ ms$/);
    expect(step(result, 'webhook').detail).toMatch(/^webhook\.secret is not set/);
    for (const s of result.steps) expect(s.durationMs).toBeGreaterThanOrEqual(0);

    const testStudy = result.testStudy!;
    expect(testStudy.leftInPacs).toBe(false);
    expect(step(result, 'stow').detail).toContain(testStudy.studyUid);
    expect(await pacs.search('studies', { StudyInstanceUID: testStudy.studyUid })).toEqual([]);
    expect(await orthanc.rest('POST', '/tools/lookup', testStudy.studyUid)).toEqual([]);
    expect(await pacs.search('studies', { StudyInstanceUID: patient.studyUid })).toHaveLength(1); // the real study is untouched
    expectNoPatientData(result);
  });

  it('with a wrong password: the QIDO step fails naming the credentials settings, and nothing else runs against the PACS', async () => {
    const result = await checkPacs({ pacs: settings(orthanc, { password: 'not-the-password-42' }), softwareVersion: 'test' });
    expect(result.ok).toBe(false);
    expect(statuses(result)).toEqual({ qido: 'failed', 'wado-metadata': 'skipped', 'wado-retrieve': 'skipped', stow: 'skipped', cleanup: 'skipped', webhook: 'skipped' });
    const qido = step(result, 'qido');
    expect(qido.cause).toMatch(/^the PACS refused the credentials \(401\): check pacs\.username\/pacs\.password \(MAMMOCAD_PACS_USERNAME\/MAMMOCAD_PACS_PASSWORD\)$/);
    expect(qido.settings).toEqual([
      { key: 'pacs.username', env: 'MAMMOCAD_PACS_USERNAME' },
      { key: 'pacs.password', env: 'MAMMOCAD_PACS_PASSWORD' },
    ]);
    expect(result.testStudy).toBeNull();
    expect(JSON.stringify(result)).not.toContain('not-the-password-42');
  });

  it("when the PACS's ReceivedInstanceFilter discards the SR: the STOW step fails naming the refusal, and nothing is left to remove", async () => {
    const result = await checkPacs({ pacs: settings(refusing), softwareVersion: 'test', keptWaitMs: 500 });
    expect(result.ok).toBe(false);
    expect(statuses(result)).toMatchObject({ qido: 'ok', stow: 'failed', cleanup: 'skipped' });
    const stow = step(result, 'stow');
    expect(stow.cause).toMatch(/answered the STOW-RS with success but did not keep the test SR/);
    expect(stow.cause).toMatch(/ReceivedInstanceFilter/);
    expect(step(result, 'cleanup').detail).toMatch(/^nothing to remove/);
    expect(result.testStudy).toMatchObject({ leftInPacs: false });
  });

  it('with the PACS down (a closed port): fails at once naming pacs.url', async () => {
    const port = await freePort();
    const started = Date.now();
    const result = await checkPacs({ pacs: { url: `http://127.0.0.1:${port}/dicom-web`, timeoutMs: 30_000 }, softwareVersion: 'test' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(statuses(result)).toEqual({ qido: 'failed', 'wado-metadata': 'skipped', 'wado-retrieve': 'skipped', stow: 'skipped', cleanup: 'skipped', webhook: 'skipped' });
    expect(step(result, 'qido').cause).toBe(`connection refused at 127.0.0.1:${port}: nothing listens there: check pacs.url (MAMMOCAD_PACS_URL)`);
    expect(step(result, 'qido').settings).toEqual([{ key: 'pacs.url', env: 'MAMMOCAD_PACS_URL' }]);
  });

  it('with a PACS that accepts connections and never answers: stops at pacs.timeoutMs and says so', async () => {
    const sockets: Socket[] = [];
    const silent = createTcp((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const started = Date.now();
      const result = await checkPacs({ pacs: { url: `http://127.0.0.1:${port}/dicom-web`, timeoutMs: 300 }, softwareVersion: 'test' });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(step(result, 'qido')).toMatchObject({ status: 'failed', settings: [{ key: 'pacs.url' }, { key: 'pacs.timeoutMs', env: 'MAMMOCAD_PACS_TIMEOUT_MS' }] });
      expect(step(result, 'qido').cause).toMatch(/^no answer from 127\.0\.0\.1:\d+ within 300 ms: check pacs\.url \(MAMMOCAD_PACS_URL\), or raise pacs\.timeoutMs/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a STOW refused in its answer (Failed SOP Sequence) fails with the failure reason', async () => {
    // A PACS that answers queries with nothing and refuses every instance "out of resources".
    const fake = createHttp((req, res) => {
      const dicomJson = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/dicom+json' }).end(JSON.stringify(body));
      if (req.method === 'POST') {
        req.resume();
        req.on('end', () => dicomJson(200, { '00081198': { vr: 'SQ', Value: [{ '00081155': { vr: 'UI', Value: ['2.25.1'] }, '00081197': { vr: 'US', Value: [0xa700] } }] } }));
      } else dicomJson(200, []);
    });
    const port = await listen(fake, 0, '127.0.0.1');
    try {
      const result = await checkPacs({ pacs: { url: `http://127.0.0.1:${port}/dicom-web`, timeoutMs: 5_000 }, softwareVersion: 'test', keptWaitMs: 0 });
      expect(statuses(result)).toMatchObject({ qido: 'ok', 'wado-metadata': 'skipped', 'wado-retrieve': 'skipped', stow: 'failed', cleanup: 'skipped' });
      expect(step(result, 'wado-metadata').detail).toBe('no instance to read (the PACS holds no study besides connectivity tests)');
      expect(step(result, 'stow').cause).toBe("the PACS refused the test SR in its STOW-RS answer: failure reason A700H (out of resources); see the PACS's log and its storage rules");
    } finally {
      await closeServer(fake);
    }
  });

  it('on a PACS that is not Orthanc: the test study cannot be deleted, and the step names it for removal by hand', async () => {
    // A DICOMweb-only PACS that keeps what it is sent: after the STOW every query lists one instance.
    let stored = false;
    const fake = createHttp((req, res) => {
      const dicomJson = (body: unknown) => res.writeHead(200, { 'content-type': 'application/dicom+json' }).end(JSON.stringify(body));
      if (req.method === 'POST') {
        req.resume();
        req.on('end', () => {
          stored = true;
          dicomJson({});
        });
      } else if (req.url!.startsWith('/dicom-web/') && stored) dicomJson([{ '00080018': { vr: 'UI', Value: [new URL(req.url!, 'http://x').searchParams.get('SOPInstanceUID') ?? '2.25.1'] } }]);
      else dicomJson([]);
    });
    const port = await listen(fake, 0, '127.0.0.1');
    try {
      const result = await checkPacs({ pacs: { url: `http://127.0.0.1:${port}/dicom-web`, timeoutMs: 5_000 }, softwareVersion: 'test' });
      expect(statuses(result)).toMatchObject({ qido: 'ok', stow: 'ok', cleanup: 'skipped' });
      expect(result.ok).toBe(true);
      const { studyUid } = result.testStudy!;
      expect(result.testStudy).toEqual({ studyUid, leftInPacs: true });
      expect(step(result, 'cleanup').detail).toBe(
        `could not delete: DICOMweb has no delete, and pacs.url is not Orthanc's (whose REST API can); remove the test study ${studyUid} (patient ${CONNECTIVITY_TEST_PATIENT.name}, ID ${CONNECTIVITY_TEST_PATIENT.id}) by hand`,
      );
      expect(formatPacsCheck(result)).toContain(`left in the PACS: the test study ${studyUid}; remove it`);
    } finally {
      await closeServer(fake);
    }
  });

  describe('the webhook step', () => {
    const secret = 'pacs-check-webhook-secret-0123';
    let service: Server;
    let url: string;
    const announced: string[] = [];

    beforeAll(async () => {
      service = createHttpServer({
        logger: createLogger('silent'),
        version: 'test',
        readiness: [],
        // As the service's announcement queue: a bad UID is a ValidationError (400), a good one is recorded.
        webhook: {
          secret,
          accept: async (uid) => {
            if (!isUidLike(uid)) throw new ValidationError('StudyInstanceUID', `'${uid}' is not a DICOM UID`);
            announced.push(uid);
            return { accepted: true, queued: true };
          },
        },
      });
      url = `http://127.0.0.1:${await listen(service, 0, '127.0.0.1')}${WEBHOOK_PATH}`;
    });
    afterAll(async () => {
      if (service) await closeServer(service);
    });

    it('is ok when the service answers and accepts the secret, and announces nothing', async () => {
      const result = await checkPacs({ pacs: settings(orthanc), softwareVersion: 'test', webhook: { url, secret } });
      expect(step(result, 'webhook')).toMatchObject({ status: 'ok', detail: expect.stringContaining(`${url} answers and accepts webhook.secret`) });
      expect(result.ok).toBe(true);
      expect(announced).toEqual([]);
    });

    it('fails naming webhook.secret when the service has another secret', async () => {
      const result = await checkPacs({ pacs: settings(orthanc), softwareVersion: 'test', webhook: { url, secret: 'another-secret-of-16+chars' } });
      expect(result.ok).toBe(false);
      expect(step(result, 'webhook')).toMatchObject({ status: 'failed', settings: [{ key: 'webhook.secret', env: 'MAMMOCAD_WEBHOOK_SECRET' }] });
      expect(step(result, 'webhook').cause).toMatch(/refused webhook\.secret \(401\)/);
      expect(JSON.stringify(result)).not.toContain('another-secret-of-16+chars');
    });

    it('fails naming server.host/server.port when nothing listens there', async () => {
      const closed = `http://127.0.0.1:${await freePort()}${WEBHOOK_PATH}`;
      const result = await checkPacs({ pacs: settings(orthanc), softwareVersion: 'test', webhook: { url: closed, secret } });
      expect(step(result, 'webhook')).toMatchObject({ status: 'failed', settings: [{ key: 'server.host', env: 'MAMMOCAD_HOST' }, { key: 'server.port', env: 'MAMMOCAD_PORT' }] });
      expect(step(result, 'webhook').cause).toMatch(/connection refused .*start `mammocad serve` there, check server\.host\/server\.port \(MAMMOCAD_HOST\/MAMMOCAD_PORT\), or pass --webhook-url/);
    });
  });

  describe('the command', () => {
    const env = () => ({ MAMMOCAD_DATA_DIR: work, MAMMOCAD_PACS_URL: orthanc.dicomwebUrl, MAMMOCAD_PACS_USERNAME: orthanc.username, MAMMOCAD_PACS_PASSWORD: orthanc.password });

    it('`mammocad pacs check --json` prints one JSON object and exits 0 when every step is ok', async () => {
      const run = await runCli(['pacs', 'check', '--json'], env());
      expect(run.code, run.stderr).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      const result = JSON.parse(lines[0]!) as PacsCheckResult;
      expect(result).toMatchObject({ ok: true, pacsUrl: orthanc.dicomwebUrl, testStudy: { leftInPacs: false } });
      expect(statuses(result)).toEqual({ qido: 'ok', 'wado-metadata': 'ok', 'wado-retrieve': 'ok', stow: 'ok', cleanup: 'ok', webhook: 'skipped' });
      expect(await pacs.search('studies', { StudyInstanceUID: result.testStudy!.studyUid })).toEqual([]);
      expectNoPatientData(result);
      expect(run.stderr).not.toContain(orthanc.password);
    });

    it('exits 1 with the failed step, its cause and the setting in the human-readable output', async () => {
      const run = await runCli(['pacs', 'check'], { ...env(), MAMMOCAD_PACS_PASSWORD: 'not-the-password-42' });
      expect(run.code, run.stderr).toBe(1);
      expect(run.stdout).toContain(`PACS check of ${orthanc.dicomwebUrl}`);
      expect(run.stdout).toMatch(/ {2}FAILED {3}QIDO-RS: studies query \(\d+ ms\)\n {11}the PACS refused the credentials .*MAMMOCAD_PACS_PASSWORD/);
      expect(run.stdout).toMatch(/ {2}skipped {2}STOW-RS: store a test SR, and QIDO-RS finds it\n {11}not run: the QIDO-RS step failed\n/);
      expect(run.stdout.trim().split('\n').at(-1)).toBe('the PACS check failed: 1 step(s)');
      expect(`${run.stdout}${run.stderr}`).not.toContain('not-the-password-42');
    });
  });
});

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
