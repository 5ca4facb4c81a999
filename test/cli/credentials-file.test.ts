import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterApi } from '../../src/cli/connect/cluster-api.js';
import { createConnectLog } from '../../src/cli/connect/connect-log.js';
import { chooseCredential } from '../../src/cli/connect/credential.js';
import { runCli } from '../helpers/cli.js';

/**
 * The credentials file (`~/.maestro/credentials`: `{apiUrl, apiKey}`, written by a server's first
 * start) holds a key of the server at `apiUrl`: the CLI and `maestro connect` never send it to
 * another origin (a `--server`, MAESTRO_API_URL or a project's `.env` pointing elsewhere).
 */
let server: Server;
let base: string;
const seen: (string | undefined)[] = [];
const dir = mkdtempSync(join(tmpdir(), 'cred-file-'));
const file = (apiUrl: string | undefined) => {
  const path = join(dir, `credentials-${seen.length}-${Math.random()}`);
  writeFileSync(path, JSON.stringify({ ...(apiUrl ? { apiUrl } : {}), apiKey: 'mk_saved_key_of_the_file' }), { mode: 0o600 });
  return path;
};

beforeAll(async () => {
  // a stand-in server that records the API key it is sent and answers an empty project list
  server = createServer((req, res) => {
    seen.push(req.headers['x-api-key'] as string | undefined);
    res.setHeader('content-type', 'application/json');
    res.end('[]');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('the credentials file’s key goes only to its own server', () => {
  it('the CLI sends it to the file’s apiUrl (or with no apiUrl), never to another server', async () => {
    const run = (credentials: string) => runCli(['--json', 'project', 'list'], { MAESTRO_API_URL: base, MAESTRO_CREDENTIALS_FILE: credentials, MAESTRO_API_KEY: '', HOME: dir, MAESTRO_RETRIES: '1' }, 30_000, { cwd: dir });
    seen.length = 0;
    expect((await run(file(`${base}/`))).status).toBe(0);
    expect((await run(file(undefined))).status).toBe(0);
    expect((await run(file('http://127.0.0.1:1'))).status).toBe(0);
    expect(seen).toEqual(['mk_saved_key_of_the_file', 'mk_saved_key_of_the_file', undefined]);
    // this machine under another loopback name is the same server (a first start writes localhost)
    seen.length = 0;
    expect((await run(file(base.replace('127.0.0.1', 'localhost')))).status).toBe(0);
    expect(seen).toEqual(['mk_saved_key_of_the_file']);
  });

  it('maestro connect refuses the file’s key for another server, naming the other options', () => {
    const log = createConnectLog(false, { out: { write: () => true }, err: { write: () => true } } as never);
    const pick = (apiUrl: string) => chooseCredential({}, { MAESTRO_CREDENTIALS_FILE: file(apiUrl) }, new ClusterApi(new URL(base)), log);
    const same = pick(base);
    expect([same.kind, same.describe]).toEqual(['apiKey', expect.stringMatching(/^the API key from .*credentials-/)]);
    expect(() => pick('https://other.example')).toThrow(/written for https:\/\/other\.example, not http:\/\/127\.0\.0\.1:\d+: it is not sent elsewhere; pass --api-key/);
  });
});
