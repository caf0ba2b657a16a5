// A local Orthanc (Debian's package, with its DICOMweb and GDCM plugins) for the tests and the
// demo: its own storage folder, ports on 127.0.0.1, basic authentication, and mammocad's Lua
// notifier. Stop and start it again on the same folder to simulate a PACS restart.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PLUGIN_DIR = process.env.MAMMOCAD_ORTHANC_PLUGINS ?? '/usr/share/orthanc/plugins';
const ORTHANC_BIN = process.env.MAMMOCAD_ORTHANC_BIN ?? '/usr/sbin/Orthanc';

export interface LocalOrthancOptions {
  /** Storage folder; a new temporary one by default. Reuse it to keep the studies. */
  dir?: string;
  httpPort?: number;
  username?: string;
  password?: string;
  /** Seconds without new instances before Orthanc calls a study stable. */
  stableAge?: number;
  /** Where the Lua notifier posts stable studies (omit: no notification). */
  webhookUrl?: string;
  webhookSecret?: string;
  /** Further Lua scripts, e.g. a ReceivedInstanceFilter that makes Orthanc refuse some objects. */
  luaScripts?: string[];
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class LocalOrthanc {
  readonly dir: string;
  readonly username: string;
  readonly password: string;
  private process: ChildProcess | undefined;
  private log = '';
  httpPort = 0;

  constructor(private readonly options: LocalOrthancOptions = {}) {
    this.dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'mammocad-orthanc-'));
    this.username = options.username ?? 'mammocad';
    this.password = options.password ?? 'orthanc-test-password';
  }

  static available(): boolean {
    return existsSync(ORTHANC_BIN) && existsSync(path.join(PLUGIN_DIR, 'libOrthancDicomWeb.so'));
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get dicomwebUrl(): string {
    return `${this.url}/dicom-web`;
  }

  /** The output Orthanc has written so far (for failure messages). */
  get output(): string {
    return this.log;
  }

  async start(): Promise<void> {
    if (this.process) return;
    this.httpPort = this.options.httpPort ?? this.httpPort ?? 0;
    if (!this.httpPort) this.httpPort = await freePort();
    const storage = path.join(this.dir, 'storage');
    mkdirSync(storage, { recursive: true });
    const config = {
      Name: 'mammocad-local',
      StorageDirectory: storage,
      IndexDirectory: storage,
      HttpPort: this.httpPort,
      DicomServerEnabled: false,
      RemoteAccessAllowed: false, // Orthanc 1.10 binds every interface: refuse non-local clients
      AuthenticationEnabled: true,
      RegisteredUsers: { [this.username]: this.password },
      StableAge: this.options.stableAge ?? 2,
      Plugins: [path.join(PLUGIN_DIR, 'libOrthancDicomWeb.so'), path.join(PLUGIN_DIR, 'libOrthancGdcm.so')],
      DicomWeb: { Enable: true, Root: '/dicom-web/', StudiesMetadata: 'Full', SeriesMetadata: 'Full' },
      LuaScripts: [path.join(ROOT, 'deploy', 'orthanc', 'mammocad-notify.lua'), ...(this.options.luaScripts ?? [])],
      HttpsVerifyPeers: false,
    };
    const configFile = path.join(this.dir, 'orthanc.json');
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    const child = spawn(ORTHANC_BIN, [configFile], {
      env: {
        ...process.env,
        MAMMOCAD_WEBHOOK_URL: this.options.webhookUrl ?? '',
        MAMMOCAD_WEBHOOK_SECRET: this.options.webhookSecret ?? '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process = child;
    child.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    child.once('exit', () => (this.process = undefined));
    await this.waitUntilUp(30_000);
  }

  private async waitUntilUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.process) throw new Error(`Orthanc exited during start-up:\n${this.log.slice(-2000)}`);
      try {
        const response = await fetch(`${this.url}/system`, { headers: { authorization: this.authorization } });
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`Orthanc did not start within ${timeoutMs} ms:\n${this.log.slice(-2000)}`);
  }

  get authorization(): string {
    return `Basic ${Buffer.from(`${this.username}:${this.password}`).toString('base64')}`;
  }

  /** Orthanc's own REST API (not DICOMweb), for test set-up and checks. */
  async rest(method: string, route: string, body?: Uint8Array | string): Promise<unknown> {
    const response = await fetch(`${this.url}${route}`, { method, body, headers: { authorization: this.authorization } });
    const text = await response.text();
    if (!response.ok) throw new Error(`Orthanc ${method} ${route}: ${response.status} ${text.slice(0, 200)}`);
    return text ? JSON.parse(text) : null;
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}
