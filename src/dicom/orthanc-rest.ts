// Orthanc's own REST API beside its DICOMweb root, for what DICOMweb cannot do: deleting a
// study (the PACS check removes its test object this way). Found only when the configured
// DICOMweb URL is Orthanc's: its parent path answers GET /system the way Orthanc does.
//
// Errors as the DICOMweb client's: PacsUnavailableError (unreachable, timeout, 5xx) or
// PacsRequestError (4xx), never naming the credentials.

import { PacsRequestError, PacsUnavailableError } from '../domain/errors.js';
import { authorizationOf } from './dicomweb-client.js';
import { readPrefix } from './multipart.js';

export interface OrthancRestOptions {
  /** The DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web */
  dicomwebUrl: string;
  username?: string;
  password?: string;
  token?: string;
  timeoutMs: number;
}

/** Parent paths of the DICOMweb root tried for Orthanc's REST root ("/dicom-web" -> "/"). */
const MAX_PARENTS = 3;

export class OrthancRest {
  private constructor(
    /** The REST root, without a trailing slash (e.g. http://127.0.0.1:8042). */
    readonly url: string,
    /** Orthanc's version, as its /system says. */
    readonly version: string,
    private readonly authorization: string | undefined,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Orthanc's REST API for this DICOMweb root, or null when the URL is not Orthanc's (or its
   * REST API is not reachable from here, e.g. a proxy exposes only DICOMweb).
   */
  static async find(options: OrthancRestOptions): Promise<OrthancRest | null> {
    const authorization = authorizationOf(options);
    const base = new URL(options.dicomwebUrl);
    const segments = base.pathname.split('/').filter(Boolean);
    for (let drop = 1; drop <= Math.min(MAX_PARENTS, segments.length); drop++) {
      const root = `${base.origin}${segments.length > drop ? `/${segments.slice(0, segments.length - drop).join('/')}` : ''}`;
      const candidate = new OrthancRest(root, '', authorization, options.timeoutMs);
      let system: Record<string, unknown> | null = null;
      try {
        system = (await (await candidate.request('GET', '/system')).json()) as Record<string, unknown> | null;
      } catch {
        continue; // not Orthanc's REST root (or not reachable): try the next parent
      }
      if (system && typeof system.Version === 'string' && typeof system.ApiVersion === 'number') {
        return new OrthancRest(root, system.Version, authorization, options.timeoutMs);
      }
    }
    return null;
  }

  /** Orthanc's id of the study with this Study Instance UID, or null when Orthanc has none. */
  async findStudy(studyUid: string): Promise<string | null> {
    const response = await this.request('POST', '/tools/lookup', studyUid);
    const found = (await response.json()) as Array<{ ID?: string; Type?: string }>;
    return found.find((item) => item.Type === 'Study')?.ID ?? null;
  }

  /** Deletes a study and everything in it. */
  async deleteStudy(orthancId: string): Promise<void> {
    await this.request('DELETE', `/studies/${encodeURIComponent(orthancId)}`);
  }

  private async request(method: string, path: string, body?: string): Promise<Response> {
    const what = `Orthanc ${method} ${path}`;
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        body,
        headers: this.authorization ? { authorization: this.authorization } : {},
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      const code = (error as { cause?: { code?: string } }).cause?.code;
      throw new PacsUnavailableError(`${what}: ${timedOut ? `no answer within ${this.timeoutMs} ms` : `cannot reach the PACS (${code ?? (error as Error).message})`}`, { cause: error });
    }
    if (response.ok) return response;
    const detail = (await readPrefix(response, 4096).catch(() => '')).slice(0, 200).replace(/\s+/g, ' ').trim();
    const message = `${what}: Orthanc answered ${response.status}${detail ? ` (${detail})` : ''}`;
    if (response.status >= 500) throw new PacsUnavailableError(message, { status: response.status });
    throw new PacsRequestError(message, response.status);
  }
}
