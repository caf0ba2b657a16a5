// The web console in a real browser (issue 18): headless Chromium from Debian, driven by
// playwright-core (no browser download), against a real stack started here: a local Orthanc,
// SQLite, a model with heat maps, the scoring and evaluation worker, the GraphQL API with its
// WebSocket subscriptions, the image endpoint and /console, all on one loopback port. A study
// is stored in Orthanc and scored; then, in the browser: a clinician signs in with an API key,
// finds the study on the worklist, opens it (images rendered from the PACS with the heat map
// over them, probabilities per image, breast and exam, the SR's state), records a label, and
// cannot see the admin pages; an admin signs in with a JWT, evaluates the model and watches the
// progress bar finish (ROC curve and AUC then shown), activates another version after a
// confirmation, cancels a queued job and reads the audit trail. A screenshot of each page
// lands in var/test-results/console/.
//
// Without Chromium (/usr/bin/chromium, or MAMMOCAD_CHROMIUM) or Orthanc this is skipped, saying
// so; under CI=true or MAMMOCAD_REQUIRE_SHARED_DATA=1 it fails instead.

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { buildSyntheticStudy } from '../../src/dicom/convert/synthetic-mammogram.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import { buildConsole } from '../../src/console/build.js';
import { Authenticator, createApiKey } from '../../src/graphql/auth.js';
import { ChangeFeed } from '../../src/graphql/change-feed.js';
import { createHttpServer, listen } from '../../src/graphql/http-server.js';
import { IMAGE_PATH_PREFIX, ImageEndpoint } from '../../src/graphql/image-endpoint.js';
import { DEFAULT_API_SETTINGS, GRAPHQL_PATH, GraphqlEndpoint } from '../../src/graphql/server.js';
import { exportToOnnx } from '../../src/ml/onnx/index.js';
import { EVALUATE_MODEL_JOB, EvaluateModelJob } from '../../src/pipeline/evaluate-model-job.js';
import { JobWorker } from '../../src/pipeline/job-worker.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { ScoreStudyJob } from '../../src/pipeline/score-study-job.js';
import { SCORE_STUDY_JOB, StudyDiscovery } from '../../src/pipeline/study-discovery.js';
import { pacsPixelFetcher } from '../../src/pipeline/train-model-job.js';
import { openStore, type Store } from '../../src/store/index.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { brightnessModel, brightnessPreprocessing } from '../support/brightness-model.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';

const CHROMIUM = process.env.MAMMOCAD_CHROMIUM ?? '/usr/bin/chromium';
const REQUIRED = process.env.MAMMOCAD_REQUIRE_SHARED_DATA === '1' || Boolean(process.env.CI);
const MISSING = [
  existsSync(CHROMIUM) ? null : `Chromium at ${CHROMIUM} (apt-get install chromium, or set MAMMOCAD_CHROMIUM)`,
  LocalOrthanc.available() ? null : 'Orthanc with its DICOMweb plugin (apt-get install orthanc orthanc-dicomweb)',
].filter((m): m is string => m !== null);
const SKIP = MISSING.length > 0 && !REQUIRED;
if (SKIP) console.warn(`[console browser test] skipped: missing ${MISSING.join('; ')}`);

const SCREENSHOTS = path.resolve('var', 'test-results', 'console');
const JWT_SECRET = 'console-browser-test-secret-0123456789abcdef';
const MODEL = 'brightness-hm';
const OTHER_MODEL = 'tiny-console-2';
const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
const device = { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: 'test', uid: '2.25.1234567890' };
const today = () => new Date().toISOString().slice(0, 10).replaceAll('-', '');

/**
 * What runs inside the page, as source text: the project's tsconfig has no DOM types (the
 * console's own code is checked with them, src/console/tsconfig.json). Run by page.evaluate
 * (the DevTools protocol): the console's Content-Security-Policy forbids eval, so Playwright's
 * waitForFunction cannot take a string there; expect.poll repeats page.evaluate instead.
 */
const IN_PAGE = {
  accessibilityProblems: `(() => {
    const problems = [];
    for (const control of document.querySelectorAll('input, select, textarea')) {
      if (!control.labels?.length && !control.getAttribute('aria-label')) problems.push('unlabelled ' + control.tagName.toLowerCase() + '#' + control.id);
    }
    for (const image of document.querySelectorAll('img')) if (!image.getAttribute('alt')) problems.push('image without alt: ' + image.src.slice(0, 40));
    for (const button of document.querySelectorAll('button')) if (!button.textContent.trim() && !button.getAttribute('aria-label')) problems.push('button without a name');
    if (document.documentElement.scrollWidth > window.innerWidth) problems.push('wider than the window: ' + document.documentElement.scrollWidth + ' px');
    return problems;
  })()`,
  fourImagesLoaded: `(() => {
    const pixels = [...document.querySelectorAll('figure.image img.pixels')];
    return pixels.length === 4 && pixels.every((img) => img.complete && img.naturalWidth > 0);
  })()`,
  largeImageLoaded: `(() => {
    const img = document.querySelector('figure.image.large img.pixels');
    return Boolean(img && img.complete && img.naturalWidth > 0);
  })()`,
  imageSizes: `[...document.querySelectorAll('figure.image img.pixels')].map((i) => Math.max(i.naturalWidth, i.naturalHeight))`,
};

/** Eight women scored earlier by the model, with outcomes, so that an evaluation has both classes. */
const EARLIER = [
  [0.92, 'MALIGNANT', 0.2, 'NORMAL'],
  [0.31, 'BENIGN', 0.81, 'MALIGNANT'],
  [0.7, 'NORMAL', 0.12, 'NORMAL'],
  [0.44, 'MALIGNANT', 0.35, 'BENIGN'],
  [0.06, 'NORMAL', 0.61, 'BENIGN'],
  [0.57, 'MALIGNANT', 0.16, 'NORMAL'],
  [0.26, 'NORMAL', 0.45, 'NORMAL'],
  [0.66, 'BENIGN', 0.52, 'MALIGNANT'],
] as const;

describe.skipIf(SKIP)('the web console in Chromium', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-console-'));
  let orthanc: LocalOrthanc;
  let store: Store;
  let server: Server;
  let endpoint: GraphqlEndpoint;
  let feed: ChangeFeed;
  let worker: JobWorker;
  let scoring: ScoreStudyJob;
  let browser: Browser;
  let page: Page;
  let base: string;
  let clinicianKey: string;
  let adminJwt: string;
  let studyUid: string;
  const browserErrors: string[] = [];

  beforeAll(async () => {
    if (MISSING.length > 0) throw new Error(`the console browser test needs ${MISSING.join('; ')} (required here: CI or MAMMOCAD_REQUIRE_SHARED_DATA=1)`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    // The bundle of this checkout, whatever dist/console holds.
    await buildConsole();
    orthanc = new LocalOrthanc();
    const launching = chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    await orthanc.start();
    const pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000, backoffMs: 10 });
    store = await openStore({ databaseUrl: `file:${path.join(work, 'console.sqlite')}` });

    // A model with heat maps (a cell's probability follows its brightness), threshold low enough
    // that the phantom is positive, so it is on the worklist and has marked regions.
    const models = new ModelService({ store, modelDir: path.join(work, 'models'), logger });
    const onnx = exportToOnnx(brightnessModel({ inputHeight: 128, inputWidth: 128, channels: 1, cell: 8 }), { heatMap: true });
    await models.import(await writeTestPackage(path.join(work, 'incoming'), { version: MODEL, model: onnx, preprocessing: brightnessPreprocessing({ inputHeight: 128, inputWidth: 128, fit: 'stretch' }), manifest: { threshold: 0.01 } }), 'admin:test');
    await models.activate(MODEL, 'admin:test');
    await models.import(await writeTestPackage(path.join(work, 'incoming'), { version: OTHER_MODEL }), 'admin:test');

    const discovery = new StudyDiscovery({ pacs, store, logger });
    feed = new ChangeFeed(store, 200, logger);
    const authenticator = new Authenticator(store, { roleClaim: 'role', hs256Secret: JWT_SECRET });
    endpoint = await GraphqlEndpoint.create({ services: { store, discovery, models, feed, logger }, authenticator, settings: DEFAULT_API_SETTINGS, logger });
    const images = new ImageEndpoint({ fetchPixels: pacsPixelFetcher(pacs), store, authenticator, logger });
    server = createHttpServer({
      logger,
      version: 'test',
      readiness: [],
      graphql: { path: GRAPHQL_PATH, handle: (req, res) => endpoint.handle(req, res) },
      images: { prefix: IMAGE_PATH_PREFIX, handle: (req, res) => images.handle(req, res) },
    });
    endpoint.attach(server);
    await listen(server, 0, '127.0.0.1');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    scoring = new ScoreStudyJob({ pacs, store, logger, selection: DEFAULT_SELECTION_POLICY, reportTemplate: 'TID1500', researchMode: true, device });
    const evaluation = new EvaluateModelJob({ store, logger });
    worker = new JobWorker({ store, logger, handlers: { [SCORE_STUDY_JOB]: scoring.handle, [EVALUATE_MODEL_JOB]: evaluation.handle }, pollMs: 200, backoffMs: 10 });
    await worker.start();

    clinicianKey = (await createApiKey(store, { name: 'Dr Console', role: 'clinician', createdBy: 'test' })).key;
    adminJwt = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('it-admin').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));

    // The study: a synthetic phantom's four views, stored in the PACS and scored by the worker.
    const views = buildSyntheticStudy('console browser test', { studyDate: today() });
    studyUid = views[0]!.studyInstanceUid;
    await pacs.store(views.map((v) => v.bytes), studyUid);
    await discovery.announce(studyUid, 'manual');
    await seedEarlierResults();
    const deadline = Date.now() + 60_000;
    while ((await store.studies.findByUid(studyUid))?.status !== 'scored') {
      if (Date.now() > deadline) throw new Error(`the study was not scored in time: ${JSON.stringify(await store.studies.findByUid(studyUid))}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    browser = await launching;
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (error) => browserErrors.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') browserErrors.push(`console: ${message.text()}`);
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await worker?.stop();
    await scoring?.dispose();
    feed?.close();
    await endpoint?.stop();
    await new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await store?.close();
    await orthanc?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  // A failed step leaves a picture of the page it failed on, and what the browser complained of.
  afterEach(async ({ task }) => {
    if (task.result?.state !== 'fail' || !page) return;
    await shot(`failed-${task.name.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}`).catch(() => undefined);
    if (browserErrors.length) console.error(`[console browser test] browser errors:\n${browserErrors.join('\n')}`);
  });

  /** Studies of other women, scored before, with outcomes recorded (not in the PACS: never opened here). */
  async function seedEarlierResults(): Promise<void> {
    const model = (await store.modelVersions.findByVersion(MODEL))!;
    for (const [w, [left, leftTruth, right, rightTruth]] of EARLIER.entries()) {
      const uid = `1.2.826.0.1.3680043.10.1.18.${w + 1}`;
      const { study } = await store.studies.announce({ studyUid: uid, source: 'manual', patientId: `EARLIER-${w + 1}`, studyDate: `202610${String(w + 10)}`, description: 'earlier screening' });
      const images = await store.images.upsertMany(
        study.id,
        (['L', 'R'] as const).map((side, i) => ({ sopInstanceUid: `${uid}.${i + 1}`, seriesUid: `${uid}.9`, laterality: side, view: 'MLO', status: 'scored' as const })),
      );
      const scores = [left, right];
      await store.predictions.saveResults(study.id, model.id, [
        ...images.map((image, i) => ({ level: 'image' as const, imageId: image.id, laterality: image.laterality as 'L' | 'R', probability: scores[i]!, positive: scores[i]! >= 0.01, preprocessingHash: 'pp' })),
        { level: 'exam' as const, probability: Math.max(left, right), positive: true, preprocessingHash: 'pp' },
      ]);
      await store.studies.setStatus(uid, 'scored');
      await store.labels.addMany(
        images.map((image, i) => ({ studyId: study.id, scope: 'image' as const, imageId: image.id, value: [leftTruth, rightTruth][i]!.toLowerCase() as 'malignant', source: 'pathology' as const, author: 'path.test' })),
      );
    }
  }

  async function shot(name: string): Promise<void> {
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }

  /** Form controls without a label, images without alt text, buttons without a name, a page wider than 1280: none allowed. */
  async function accessibilityProblems(): Promise<string[]> {
    return page.evaluate<string[]>(IN_PAGE.accessibilityProblems);
  }

  async function signIn(credential: string): Promise<void> {
    await page.goto(`${base}/console`);
    await page.waitForSelector('#credential');
    // The field has the focus: type and press Enter, as a keyboard user would.
    expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('credential');
    await page.keyboard.type(credential);
    await page.keyboard.press('Enter');
    await page.waitForSelector('header.top nav');
  }

  it('a clinician signs in with an API key and finds the scored study on the worklist, newest first', async () => {
    await page.goto(`${base}/console`);
    await page.waitForSelector('#credential');
    expect(page.url()).toBe(`${base}/console/`);
    await shot('01-sign-in');
    await page.fill('#credential', 'mk_00000000_wrongwrongwrongwrongwrongwrongwrongwrongwro');
    await page.click('button[type=submit]');
    await page.waitForSelector('#sign-in-error');
    expect(await page.textContent('#sign-in-error')).toContain('unknown API key');
    expect(await page.locator('.notice').count()).toBe(0); // a key being tried signs no one out
    browserErrors.length = 0; // the browser logs the 401 it was just given

    await signIn(clinicianKey);
    expect(await page.locator('header.top nav a').allTextContents()).toEqual(['Worklist', 'Models']);
    const row = page.locator(`tr[data-study="${studyUid}"]`);
    await row.waitFor();
    // Newest first: today's study above the eight earlier ones.
    expect(await page.locator('tbody tr').first().getAttribute('data-study')).toBe(studyUid);
    expect(await page.locator('tbody tr').count()).toBe(9);
    expect(await row.locator('.badge').first().textContent()).toBe('scored');
    expect(await row.textContent()).toMatch(/\d+\.\d %/);
    expect(await row.textContent()).toContain(MODEL);
    expect(await accessibilityProblems()).toEqual([]);
    await shot('02-worklist');

    // The filters go to the API: the earlier studies are all before today.
    await page.fill('#f-from', new Date().toISOString().slice(0, 10));
    await page.click('form.filters button[type=submit]');
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
    await page.click('form.filters button:has-text("Reset")');
    await expect.poll(() => page.locator('tbody tr').count()).toBe(9);
  });

  it('the study page shows each image with its heat map, the probabilities and the SR, and records a label', async () => {
    await page.click(`tr[data-study="${studyUid}"] a`);
    await page.waitForSelector('figure.image');
    expect(page.url()).toBe(`${base}/console/#/study/${encodeURIComponent(studyUid)}`);
    // Four views, each rendered by the service from the PACS at screen size, the heat map over it.
    await expect.poll(() => page.evaluate<boolean>(IN_PAGE.fourImagesLoaded), { timeout: 30_000 }).toBe(true);
    expect((await page.locator('figure.image').evaluateAll((figures) => figures.map((f) => f.getAttribute('data-view')))).sort()).toEqual(['L CC', 'L MLO', 'R CC', 'R MLO']);
    expect(await page.locator('figure.image img.overlay').count()).toBe(4);
    const sizes = await page.evaluate<number[]>(IN_PAGE.imageSizes);
    expect(sizes.every((s) => s >= 380 && s <= 1024)).toBe(true); // screen size, not the 1300-pixel original

    // Probabilities: the page shows what the database holds, per image, breast and exam.
    const study = (await store.studies.findByUid(studyUid))!;
    const predictions = await store.predictions.listByStudy(study.id);
    const exam = predictions.find((p) => p.level === 'exam')!;
    expect(await page.textContent('.exam-probability')).toContain(`${(exam.probability * 100).toFixed(1)} %`);
    expect(await page.locator('tr[data-breast]').count()).toBe(2);
    expect(await page.locator('tr[data-image] .probability').count()).toBe(4);
    expect(await page.textContent('table.reports')).toContain('stored');
    expect(await page.textContent('table.reports')).toContain('TID1500');
    expect(await accessibilityProblems()).toEqual([]);
    await shot('03-study');

    // The heat map can be hidden, and one view enlarged.
    await page.uncheck('#show-heatmap');
    expect(await page.locator('figure.image img.overlay').count()).toBe(0);
    await page.check('#show-heatmap');
    await page.click('figure.image button.link >> nth=0');
    await expect.poll(() => page.evaluate<boolean>(IN_PAGE.largeImageLoaded), { timeout: 30_000 }).toBe(true);
    await shot('04-study-enlarged');
    await page.click('figure.image.large button.link');

    // A label for the right CC image: pathology says malignant.
    const rightCc = (await store.images.listByStudy(study.id)).find((i) => i.laterality === 'R' && i.view === 'CC')!;
    await page.selectOption('#label-target', `image:${rightCc.sopInstanceUid}`);
    await page.selectOption('#label-value', 'MALIGNANT');
    await page.selectOption('#label-source', 'PATHOLOGY');
    await page.fill('#label-note', 'core biopsy: invasive ductal carcinoma');
    await page.click('button:has-text("Record label")');
    await page.waitForSelector('.label-list li');
    expect(await page.textContent('.label-list')).toContain('malignant · R CC image · pathology');
    expect(await page.textContent('.labels p.done')).toContain('Recorded');
    const labels = await store.labels.listByStudy(study.id);
    expect(labels.map((l) => [l.value, l.source, l.imageId, l.author, l.note])).toEqual([['malignant', 'pathology', rightCc.id, expect.stringMatching(/^apikey:mk_/), 'core biopsy: invasive ductal carcinoma']]);
    await shot('05-study-labelled');
  });

  it('a clinician sees neither the jobs nor the audit page, and cannot activate or evaluate', async () => {
    await page.goto(`${base}/console/#/jobs`);
    await page.waitForSelector('#page-title');
    expect(await page.textContent('#page-title')).toBe('Not available');
    expect(await page.locator('table.jobs').count()).toBe(0);
    await page.goto(`${base}/console/#/audit`);
    await expect.poll(() => page.textContent('#page-title')).toBe('Not available');
    expect(await page.locator('header.top nav a', { hasText: 'Audit' }).count()).toBe(0);
    await shot('06-clinician-no-audit');
    await page.goto(`${base}/console/#/models`);
    await page.waitForSelector(`article[data-model="${MODEL}"]`);
    expect(await page.locator('article.model button').count()).toBe(0);
    await page.click('header.top button:has-text("Sign out")');
    await page.waitForSelector('#credential');
    expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);
  });

  it('an admin signs in with a JWT, evaluates the model and watches the progress bar finish', async () => {
    await signIn(adminJwt);
    expect(await page.locator('header.top nav a').allTextContents()).toEqual(['Worklist', 'Models', 'Jobs', 'Audit']);
    expect(await page.textContent('header.top .who')).toContain('it-admin');
    await page.click('header.top nav a:has-text("Models")');
    const card = page.locator(`article[data-model="${MODEL}"]`);
    await card.waitFor();
    expect(await card.textContent()).toContain('not evaluated');
    await card.locator('button', { hasText: 'Evaluate' }).click();
    const bar = card.locator('.evaluation [role=progressbar]');
    await bar.waitFor();
    await card.locator('.job-progress[data-status="SUCCEEDED"]').waitFor({ timeout: 30_000 });
    expect(await bar.getAttribute('aria-valuenow')).toBe('100');
    // The new metrics: AUC with its CI, and the ROC curve drawn from the evaluation's points.
    await card.locator('svg.roc').waitFor();
    expect(await card.locator('.auc').textContent()).toMatch(/^\d\.\d\d \(\d\.\d\d–\d\.\d\d\)/);
    expect(await card.locator('svg.roc').getAttribute('aria-label')).toMatch(/ROC curve of brightness-hm: AUC \d\.\d\d/);
    const job = (await store.jobs.list({ kind: EVALUATE_MODEL_JOB, take: 5 }))[0]!;
    expect(job).toMatchObject({ status: 'succeeded', payload: { version: MODEL, requestedBy: 'jwt:it-admin' } });
    expect(await accessibilityProblems()).toEqual([]);
    await shot('07-models-evaluated');
  });

  it('an admin activates another version after confirming', async () => {
    const card = page.locator(`article[data-model="${OTHER_MODEL}"]`);
    await card.locator('button', { hasText: `Activate ${OTHER_MODEL}` }).click();
    const dialog = page.locator('dialog.confirm[open]');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('not shown an AUC above chance');
    await shot('08-activate-confirm');
    // Cancel first: nothing changes.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' }).catch(() => dialog.waitFor({ state: 'hidden' }));
    expect((await store.modelVersions.findActive())!.version).toBe(MODEL);
    await card.locator('button', { hasText: `Activate ${OTHER_MODEL}` }).click();
    await page.locator('dialog.confirm[open] button.primary').click();
    await card.locator('.badge.active').waitFor();
    expect((await store.modelVersions.findActive())).toMatchObject({ version: OTHER_MODEL, activatedBy: 'jwt:it-admin' });
  });

  it('an admin sees the jobs with their progress, cancels a queued one, and reads the audit trail', async () => {
    // A training run queued for later: it waits, so it can be cancelled.
    const { job: queued } = await store.jobs.enqueue('train', { baseVersion: MODEL, requestedBy: 'test' }, { runAt: new Date(Date.now() + 3_600_000) });
    await page.click('header.top nav a:has-text("Jobs")');
    await page.waitForSelector(`tr[data-job="${queued.id}"]`);
    expect(await page.locator('tr[data-job] .job-progress[data-status="SUCCEEDED"]').count()).toBeGreaterThanOrEqual(2); // the scoring and the evaluation
    await shot('09-jobs');
    await page.click(`tr[data-job="${queued.id}"] button:has-text("Cancel")`);
    await page.locator('dialog.confirm[open] button.primary').click();
    await page.waitForSelector(`tr[data-job="${queued.id}"] .job-progress[data-status="CANCELLED"]`);
    expect((await store.jobs.get(queued.id)).status).toBe('cancelled');

    await page.click('header.top nav a:has-text("Audit")');
    await page.waitForSelector('table.audit tbody tr');
    const actions = await page.locator('table.audit tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
    // subscription.jobProgress: the progress bars followed the jobs over the WebSocket (graphql-ws).
    expect(actions).toEqual(
      expect.arrayContaining(['http.image', 'mutation.submitLabels', 'mutation.evaluateModelVersion', 'subscription.jobProgress', 'mutation.activateModelVersion', 'mutation.cancelJob', 'query.jobs']),
    );
    await page.fill('#audit-action', 'http.image');
    await page.click('form.filters button[type=submit]');
    await expect.poll(() => page.locator('table.audit tbody tr:not([data-action="http.image"])').count()).toBe(0);
    expect(await accessibilityProblems()).toEqual([]);
    await shot('10-audit');
    expect(browserErrors).toEqual([]);
  });
});
