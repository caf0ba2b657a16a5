// `mammocad pacs check`: does the configured PACS do what mammocad needs of it? Step by step,
// with the settings as configured:
//
//   qido (studies query) -> wado-metadata + wado-retrieve (a real instance, MG preferred)
//   -> stow (a test SR into a study of its own, then QIDO: did the PACS keep it?)
//   -> cleanup (delete the test study: Orthanc's REST API where the PACS is Orthanc)
//   -> webhook (the service's webhook endpoint answers and accepts the secret)
//
// Each step ends ok, failed (with the cause and the setting to change) or skipped (with why);
// a step never throws. Nothing here prints or logs a patient identifier: the real instance is
// named by a hash of its study UID, and error texts have its UIDs replaced.
// Kept whole: the steps and the diagnosis of their failures read as one check; split, a cause would sit apart from its step.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ENVIRONMENT_KEYS, type Config } from '../config/index.js';
import { PacsRequestError, PacsUnavailableError } from '../domain/index.js';
import { DicomwebClient, StowRefusedError, type DicomJson } from '../dicom/dicomweb-client.js';
import { TAG, jsonNumber, jsonString } from '../dicom/dicom-json.js';
import { OrthancRest } from '../dicom/orthanc-rest.js';
import { CONNECTIVITY_TEST_PATIENT, buildConnectivityTestSr } from '../dicom/sr/index.js';
import { studyRef } from './study-discovery.js';

export type StepName = 'qido' | 'wado-metadata' | 'wado-retrieve' | 'stow' | 'cleanup' | 'webhook';
export type StepStatus = 'ok' | 'failed' | 'skipped';

/** A setting to look at, and the environment variable that sets it. */
export interface SettingRef {
  key: string;
  env: string | null;
}

export interface StepResult {
  name: StepName;
  title: string;
  status: StepStatus;
  durationMs: number;
  /** ok: what the step saw; skipped: why it did not run. */
  detail?: string;
  /** failed: what went wrong and what to change. */
  cause?: string;
  /** failed: the settings the cause points at (none when the fault is the PACS's own). */
  settings?: SettingRef[];
}

export interface PacsCheckResult {
  /** Every step that ran is ok. */
  ok: boolean;
  /** The DICOMweb root checked (without any credentials it may hold). */
  pacsUrl: string;
  steps: StepResult[];
  /** The test study the stow step created; leftInPacs: it is still there and must be removed by hand. */
  testStudy: { studyUid: string; leftInPacs: boolean } | null;
}

export interface PacsCheckOptions {
  pacs: Config['pacs'];
  /** The service's webhook endpoint and the secret it expects (absent: webhook.secret is not set). */
  webhook?: { url: string; secret: string };
  /** Written into the test SR's Software Versions. */
  softwareVersion: string;
  logger?: Logger;
  /** How long the stow step waits for QIDO-RS to list the stored test SR (default 3 s). */
  keptWaitMs?: number;
  /** Timeout of the webhook request (default 10 s). */
  webhookTimeoutMs?: number;
}

const TITLES: Record<StepName, string> = {
  qido: 'QIDO-RS: studies query',
  'wado-metadata': 'WADO-RS: metadata of an instance',
  'wado-retrieve': 'WADO-RS: retrieve a frame or the instance',
  stow: 'STOW-RS: store a test SR, and QIDO-RS finds it',
  cleanup: 'remove the test study',
  webhook: "webhook: the service's endpoint answers",
};

/** A step's failure that is no exception of a client: a cause and the settings it points at. */
class CheckFailure extends Error {
  constructor(
    readonly reason: string,
    readonly settings: string[] = [],
  ) {
    super(reason);
  }
}

type Outcome = { status: 'ok' | 'skipped'; detail: string };

/** A real instance in the PACS, for WADO-RS; `uids` maps each of its UIDs to the placeholder error texts show instead. */
interface SampleInstance {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  modality: string;
  uids: Record<string, string>;
}

export async function checkPacs(options: PacsCheckOptions): Promise<PacsCheckResult> {
  const log = options.logger?.child({ component: 'pacs-check' });
  // One attempt per request: a check reports what it sees, and retries would only delay it.
  const pacs = new DicomwebClient({ ...options.pacs, attempts: 1 });
  const steps: StepResult[] = [];
  const step = async (name: StepName, work: () => Promise<Outcome>, failure = (error: unknown) => diagnose(error, name, options.pacs)): Promise<StepResult> => {
    const started = performance.now();
    let result: StepResult;
    try {
      const outcome = await work();
      result = { name, title: TITLES[name], status: outcome.status, durationMs: elapsed(started), detail: outcome.detail };
    } catch (error) {
      const { cause, settings } = failure(error);
      result = { name, title: TITLES[name], status: 'failed', durationMs: elapsed(started), cause, settings: settings.map(settingRef) };
    }
    steps.push(result);
    if (result.status === 'failed') log?.warn({ step: name, durationMs: result.durationMs, cause: result.cause }, 'PACS check step failed');
    else log?.info({ step: name, status: result.status, durationMs: result.durationMs }, 'PACS check step');
    return result;
  };
  const skip = (name: StepName, why: string) => step(name, async () => ({ status: 'skipped', detail: why }));

  const qido = await step('qido', async () => {
    const studies = await pacs.search('studies', { limit: 1 });
    return { status: 'ok', detail: `the PACS answered the studies query (${studies.length ? 'it holds studies' : 'it holds no study yet'})` };
  });
  const reachable = qido.status === 'ok';

  // Filled in by the metadata step, read by the retrieve step.
  const read: { sample?: SampleInstance; metadata?: DicomJson } = {};
  if (!reachable) await skip('wado-metadata', 'not run: the QIDO-RS step failed');
  else {
    await step(
      'wado-metadata',
      async () => {
        const sample = (read.sample = (await findSampleInstance(pacs)) ?? undefined);
        if (!sample) return { status: 'skipped', detail: 'no instance to read (the PACS holds no study besides connectivity tests)' };
        [read.metadata] = await pacs.metadata(`studies/${sample.studyUid}/series/${sample.seriesUid}/instances/${sample.sopInstanceUid}`);
        if (!read.metadata) throw new CheckFailure('the PACS answered the metadata request with no dataset');
        return { status: 'ok', detail: `metadata of ${describeSample(sample)}: ${Object.keys(read.metadata).length} attributes` };
      },
      (error) => diagnose(error, 'wado-metadata', options.pacs, read.sample?.uids),
    );
  }
  const { sample, metadata } = read;
  if (!sample || !metadata) await skip('wado-retrieve', reachable ? 'not run: no instance metadata to go on' : 'not run: the QIDO-RS step failed');
  else {
    const isImage = jsonNumber(metadata, TAG.Rows) !== null;
    await step('wado-retrieve', () => retrieveSample(pacs, sample, isImage), (error) => diagnose(error, 'wado-retrieve', options.pacs, sample.uids));
  }

  let testStudy: PacsCheckResult['testStudy'] = null;
  if (!reachable) {
    await skip('stow', 'not run: the QIDO-RS step failed');
    await skip('cleanup', 'not run: nothing was stored');
  } else {
    const sr = buildConnectivityTestSr({ softwareVersion: options.softwareVersion });
    testStudy = { studyUid: sr.studyInstanceUid, leftInPacs: false };
    await step('stow', async () => {
      await pacs.store([sr.bytes], sr.studyInstanceUid);
      const waitMs = options.keptWaitMs ?? 3000;
      if (!(await kept(pacs, sr.studyInstanceUid, sr.sopInstanceUid, waitMs))) {
        throw new CheckFailure(
          `the PACS answered the STOW-RS with success but did not keep the test SR (QIDO-RS does not list it ${waitMs / 1000} s later): ` +
            'a rule on the PACS discarded it (in Orthanc, a Lua ReceivedInstanceFilter), so it would discard mammocad\'s reports too',
        );
      }
      return { status: 'ok', detail: `stored test SR in study ${sr.studyInstanceUid} (patient ${CONNECTIVITY_TEST_PATIENT.name}); QIDO-RS lists it` };
    });
    // Left in the PACS unless the cleanup says it is gone (a cleanup that failed cannot tell).
    let left = true;
    await step('cleanup', async () => {
      const { outcome, gone } = await removeTestStudy(pacs, options.pacs, sr.studyInstanceUid);
      left = !gone;
      return outcome;
    });
    testStudy.leftInPacs = left;
  }

  if (!options.webhook) await skip('webhook', 'webhook.secret is not set, so the PACS is not expected to call mammocad (polling only)');
  else {
    const webhook = options.webhook;
    await step('webhook', () => checkWebhook(webhook.url, webhook.secret, options.webhookTimeoutMs ?? 10_000), (error) => diagnoseWebhook(error, webhook.url));
  }

  return { ok: steps.every((s) => s.status !== 'failed'), pacsUrl: withoutCredentials(options.pacs.url), steps, testStudy };
}

// The steps -------------------------------------------------------------------------------------

/** A real instance to read: from an MG study when there is one, else from any study; never a connectivity test's. */
async function findSampleInstance(pacs: DicomwebClient): Promise<SampleInstance | null> {
  const notOurTest = (study: DicomJson) => jsonString(study, TAG.PatientID) !== CONNECTIVITY_TEST_PATIENT.id;
  let study = (await pacs.search('studies', { ModalitiesInStudy: 'MG', limit: 10, includefield: 'PatientID' })).find(notOurTest);
  study ??= (await pacs.search('studies', { limit: 10, includefield: 'PatientID' })).find(notOurTest);
  if (!study) return null;
  const studyUid = jsonString(study, TAG.StudyInstanceUID);
  const series = await pacs.search(`studies/${studyUid}/series`);
  const chosen = series.find((s) => jsonString(s, TAG.Modality) === 'MG') ?? series.find((s) => jsonString(s, TAG.Modality) !== 'SR') ?? series[0];
  if (!chosen) return null;
  const seriesUid = jsonString(chosen, TAG.SeriesInstanceUID);
  const [instance] = await pacs.search(`studies/${studyUid}/series/${seriesUid}/instances`, { limit: 1 });
  if (!instance) return null;
  const sopInstanceUid = jsonString(instance, TAG.SOPInstanceUID);
  return {
    studyUid,
    seriesUid,
    sopInstanceUid,
    modality: jsonString(chosen, TAG.Modality) || 'unknown modality',
    uids: { [studyUid]: '{study}', [seriesUid]: '{series}', [sopInstanceUid]: '{instance}' },
  };
}

function describeSample(sample: SampleInstance): string {
  return `one ${sample.modality} instance (study ${studyRef(sample.studyUid)})`;
}

/** Frame 1 of an image (the pixel data alone), else the whole instance. */
async function retrieveSample(pacs: DicomwebClient, sample: SampleInstance, isImage: boolean): Promise<Outcome> {
  const started = performance.now();
  if (isImage) {
    try {
      const [frame] = await pacs.retrieveFrames(sample.studyUid, sample.seriesUid, sample.sopInstanceUid, [1]);
      return { status: 'ok', detail: `frame 1 of ${describeSample(sample)}: ${formatBytes(frame!.byteLength)} in ${elapsed(started)} ms` };
    } catch (error) {
      // Frame retrieval is optional in some PACSs; the whole instance is what scoring fetches.
      if (!(error instanceof PacsRequestError) || error.status === 401 || error.status === 403) throw error;
    }
  }
  const { bytes, transferSyntaxUid } = await pacs.retrieveInstance(sample.studyUid, sample.seriesUid, sample.sopInstanceUid);
  return {
    status: 'ok',
    detail: `${describeSample(sample)}${isImage ? ' (the PACS does not serve single frames)' : ''}: ${formatBytes(bytes.byteLength)}, transfer syntax ${transferSyntaxUid ?? 'unknown'}, in ${elapsed(started)} ms`,
  };
}

/** Whether QIDO-RS lists the instance, asking until `waitMs` has passed (some PACSs index after answering). */
async function kept(pacs: DicomwebClient, studyUid: string, sopInstanceUid: string, waitMs: number): Promise<boolean> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    if (await listed(pacs, studyUid, sopInstanceUid)) return true;
    if (performance.now() >= deadline) return false;
    await sleep(Math.min(250, Math.max(0, deadline - performance.now())));
  }
}

async function listed(pacs: DicomwebClient, studyUid: string, sopInstanceUid?: string): Promise<boolean> {
  try {
    const found = sopInstanceUid
      ? await pacs.search(`studies/${studyUid}/instances`, { SOPInstanceUID: sopInstanceUid })
      : await pacs.search('studies', { StudyInstanceUID: studyUid });
    return found.length > 0;
  } catch (error) {
    if (error instanceof PacsRequestError && error.status === 404) return false;
    throw error;
  }
}

/** Deletes the test study where the PACS lets us (Orthanc's REST API); otherwise says what to remove by hand. */
async function removeTestStudy(pacs: DicomwebClient, settings: Config['pacs'], studyUid: string): Promise<{ outcome: Outcome; gone: boolean }> {
  if (!(await listed(pacs, studyUid))) return { outcome: { status: 'skipped', detail: 'nothing to remove: the PACS kept nothing of the test' }, gone: true };
  const byHand = `remove the test study ${studyUid} (patient ${CONNECTIVITY_TEST_PATIENT.name}, ID ${CONNECTIVITY_TEST_PATIENT.id}) by hand`;
  const orthanc = await OrthancRest.find({ ...settings, dicomwebUrl: settings.url });
  if (!orthanc) return { outcome: { status: 'skipped', detail: `could not delete: DICOMweb has no delete, and pacs.url is not Orthanc's (whose REST API can); ${byHand}` }, gone: false };
  const id = await orthanc.findStudy(studyUid);
  if (!id) throw new CheckFailure(`QIDO-RS lists the test study but Orthanc's REST API at ${orthanc.url} does not find it; ${byHand}`);
  try {
    await orthanc.deleteStudy(id);
  } catch (error) {
    if (error instanceof PacsRequestError && [401, 403, 405].includes(error.status)) {
      return { outcome: { status: 'skipped', detail: `could not delete: Orthanc does not let this account delete (${error.status}); ${byHand}` }, gone: false };
    }
    throw error;
  }
  if (await listed(pacs, studyUid)) throw new CheckFailure(`Orthanc accepted the delete but QIDO-RS still lists the test study; ${byHand}`);
  return { outcome: { status: 'ok', detail: `deleted the test study through Orthanc's REST API (Orthanc ${orthanc.version})` }, gone: true };
}

/**
 * The service's webhook with the configured secret and a body without a study: the service
 * answers 400 once the secret is accepted, and announces nothing.
 */
async function checkWebhook(url: string, secret: string, timeoutMs: number): Promise<Outcome> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new WebhookUnreachable(error, timeoutMs);
  }
  const body = await response.text().catch(() => '');
  if (response.status === 400 && body.includes('StudyInstanceUID')) {
    return {
      status: 'ok',
      detail: `${url} answers and accepts webhook.secret; the PACS must call this URL as it reaches the service (Orthanc's notifier: its MAMMOCAD_WEBHOOK_URL) with the same secret`,
    };
  }
  if (response.status === 401) {
    throw new CheckFailure(`the service at ${url} refused webhook.secret (401): it runs with another secret; ${hint(['webhook.secret'])} here, where the service runs and in the PACS's notifier`, ['webhook.secret']);
  }
  if (response.status === 404) {
    throw new CheckFailure(`${url} answered 404: the service there runs without the webhook (its webhook.secret is unset) or is not mammocad; ${hint(['webhook.secret'])} where it runs, or pass --webhook-url`, ['webhook.secret']);
  }
  throw new CheckFailure(`${url} answered ${response.status}, not as mammocad's webhook does: pass --webhook-url with the service's address, or ${hint(['server.host', 'server.port'])}`, ['server.host', 'server.port']);
}

class WebhookUnreachable extends Error {
  constructor(
    readonly error: unknown,
    readonly timeoutMs: number,
  ) {
    super('webhook unreachable');
  }
}

// Diagnosis ---------------------------------------------------------------------------------------

/** "check a/b (ENV_A/ENV_B)" for settings keys. */
function hint(keys: string[]): string {
  const envs = keys.map((key) => settingRef(key).env ?? key);
  return `check ${keys.join('/')} (${envs.join('/')})`;
}

function settingRef(key: string): SettingRef {
  return { key, env: ENVIRONMENT_KEYS.find((e) => e.key === key)?.env ?? null };
}

function credentialKeys(settings: Config['pacs']): string[] {
  return settings.token ? ['pacs.token'] : ['pacs.username', 'pacs.password'];
}

/** The error's text without the request line, the real instance's UIDs replaced by placeholders. */
function reasonOf(error: Error, uids: Record<string, string> = {}): string {
  let text = error.message.replace(/^(GET|POST|PUT|DELETE|Orthanc \w+) \S+: /, '');
  for (const [uid, placeholder] of Object.entries(uids)) text = text.split(uid).join(placeholder);
  return text;
}

/** What fetch's error says about a network-level fault: a timeout, or the system's code (refused, unknown host, unreachable, TLS). */
function connectionProblem(fetchError: unknown): { timedOut: boolean; code: string | undefined } {
  const failure = fetchError as { name?: string; cause?: { code?: string } } | undefined;
  return { timedOut: failure?.name === 'TimeoutError' || failure?.name === 'AbortError', code: failure?.cause?.code };
}

function describeConnection(code: string | undefined, target: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused at ${target}: nothing listens there`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name of ${target} is not known (${code})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return `${target} is unreachable (${code})`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `${target} closed the connection (${code})`;
    default:
      if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) return `the TLS certificate of ${target} is not trusted (${code}; NODE_EXTRA_CA_CERTS adds a CA)`;
      return `cannot connect to ${target}${code ? ` (${code})` : ''}`;
  }
}

function diagnose(error: unknown, name: StepName, settings: Config['pacs'], uids?: Record<string, string>): { cause: string; settings: string[] } {
  if (error instanceof CheckFailure) return { cause: error.reason, settings: error.settings };
  const target = hostOf(settings.url);
  if (error instanceof StowRefusedError) {
    const reasons = error.failures.map((f) => (f.reason === null ? 'no reason given' : describeFailureReason(f.reason))).join('; ');
    return { cause: `the PACS refused the test SR in its STOW-RS answer: ${reasons}; see the PACS's log and its storage rules`, settings: [] };
  }
  if (error instanceof PacsRequestError) {
    const reason = reasonOf(error, uids);
    if (error.status === 401 || (error.status === 403 && name !== 'stow' && name !== 'cleanup')) {
      const keys = credentialKeys(settings);
      const none = !settings.token && settings.username === undefined;
      return { cause: `the PACS ${none ? 'wants credentials and none are configured' : 'refused the credentials'} (${error.status}): ${hint(keys)}`, settings: keys };
    }
    if (name === 'stow') {
      if (error.status === 403) {
        const keys = credentialKeys(settings);
        return { cause: `the PACS refused the STOW-RS (${reason}): the account may read but not store; give it write access or ${hint(keys)}`, settings: keys };
      }
      return { cause: `the PACS refused the STOW-RS: ${reason}`, settings: [] };
    }
    if (name === 'qido' && (error.status === 404 || error.status === 405)) {
      return { cause: `the URL does not answer as a DICOMweb root (${reason}): ${hint(['pacs.url'])}; for Orthanc it ends in /dicom-web`, settings: ['pacs.url'] };
    }
    return { cause: `the PACS refused the request: ${reason}`, settings: [] };
  }
  if (error instanceof PacsUnavailableError) {
    if (error.status !== undefined) return { cause: `${reasonOf(error, uids)}: a fault of the PACS itself; see its log`, settings: [] };
    if (/invalid JSON/.test(error.message)) {
      return { cause: `the answer was not DICOM JSON: the URL may not be a DICOMweb root; ${hint(['pacs.url'])}`, settings: ['pacs.url'] };
    }
    const { timedOut, code } = connectionProblem(error.cause);
    if (timedOut) {
      return { cause: `no answer from ${target} within ${settings.timeoutMs} ms: ${hint(['pacs.url'])}, or raise pacs.timeoutMs (MAMMOCAD_PACS_TIMEOUT_MS) for a slow PACS`, settings: ['pacs.url', 'pacs.timeoutMs'] };
    }
    if (code || /cannot reach/.test(error.message)) return { cause: `${describeConnection(code, target)}: ${hint(['pacs.url'])}`, settings: ['pacs.url'] };
    return { cause: `${reasonOf(error, uids)}: the connection broke; try again`, settings: [] };
  }
  return { cause: `unexpected error: ${error instanceof Error ? error.message : String(error)}`, settings: [] };
}

function diagnoseWebhook(error: unknown, url: string): { cause: string; settings: string[] } {
  if (error instanceof CheckFailure) return { cause: error.reason, settings: error.settings };
  if (error instanceof WebhookUnreachable) {
    const { timedOut, code } = connectionProblem(error.error);
    const problem = timedOut ? `no answer from ${url} within ${error.timeoutMs} ms` : describeConnection(code, url);
    return {
      cause: `${problem}: start \`mammocad serve\` there, ${hint(['server.host', 'server.port'])}, or pass --webhook-url with the address the PACS calls`,
      settings: ['server.host', 'server.port'],
    };
  }
  return { cause: `unexpected error: ${error instanceof Error ? error.message : String(error)}`, settings: [] };
}

/** Failure Reason (0008,1197) values of PS3.4 Annex B and PS3.18 Annex I. */
export function describeFailureReason(reason: number): string {
  const hex = `${reason.toString(16).toUpperCase().padStart(4, '0')}H`;
  const known: Record<number, string> = {
    0x0110: 'processing failure',
    0x0117: 'invalid SOP instance',
    0x0122: 'SOP class not supported',
    0x0124: 'not authorized',
    0xc122: 'transfer syntax not supported',
  };
  const meaning =
    known[reason] ??
    ((reason & 0xff00) === 0xa700 ? 'out of resources' : (reason & 0xff00) === 0xa900 ? 'data set does not match SOP class' : (reason & 0xf000) === 0xc000 ? 'cannot understand' : 'unknown reason');
  return `failure reason ${hex} (${meaning})`;
}

// Helpers -------------------------------------------------------------------------------------------

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} bytes`;
}

function hostOf(url: string): string {
  const parsed = new URL(url);
  return parsed.host;
}

/** The URL without user and password (a URL may carry them). */
export function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString().replace(/\/$/, '');
}
