import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { compareIds, nginxBinary, sleep, startNginx, streamEvents, waitFor, type Nginx } from '../helpers/fault-kit.js';
import { call, startApiProcess, type ApiProcess } from '../helpers/processes.js';
import { freePort, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { connect as wsConnect, type RecordingClient } from '../helpers/ws-client.js';

/**
 * `maestro connect` (issue 14 part 1; contract 08, "Original clients on a secured cluster"), driven
 * as a user would: a real cluster (Redis, two API replicas with MAESTRO_AUTH=required, nginx in front),
 * the proxy started as `node dist/cli/index.js connect <nginx> --port <p> --api-key <alice's key>`, and
 * clients that know nothing of credentials (plain fetch, the CLI, a WebSocket) pointed at the proxy.
 */
const hasNginx = nginxBinary() !== undefined;
if (!hasNginx) console.warn('maestro connect test skipped: nginx is not installed');

/** A `maestro connect` child process. */
interface ConnectProc {
  child: ChildProcess;
  port: number;
  base: string;
  stdout: string[];
  stderr: () => string;
  /** Resolves with the exit code once it has exited. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Where the CLI looks for a credentials file: nowhere real (never the machine's ~/.maestro). */
const noCredentials = join(mkdtempSync(join(tmpdir(), 'connect-none-')), 'credentials');
const childEnv = (env: Record<string, string>) => {
  const e: NodeJS.ProcessEnv = { ...process.env, MAESTRO_CREDENTIALS_FILE: noCredentials, ...env };
  for (const k of ['MAESTRO_API_KEY', 'MAESTRO_EMAIL', 'MAESTRO_PASSWORD']) if (!(k in env)) delete e[k];
  return e;
};

/** Runs `maestro connect <args>`; resolves once it says it listens, or once it exits (then `port` is 0). */
function startConnect(args: string[], env: Record<string, string> = {}): Promise<ConnectProc> {
  const child = spawn(process.execPath, [CLI, 'connect', ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`maestro connect did not start: ${stderr}`)), 15_000);
    const proc = (port: number): ConnectProc => ({
      child,
      port,
      base: `http://127.0.0.1:${port}`,
      stdout,
      stderr: () => stderr,
      exited,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      },
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      stdout.push(line);
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(proc(Number(m[1])));
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      resolve(proc(0));
    });
  });
}

/** A response's body as JSON (loosely typed, as the original clients read it). */
const j = async (r: Response | Promise<Response>): Promise<any> => (await r).json();
const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

let redis: TestRedis;
let raw: Redis;
let replicas: ApiProcess[] = [];
let nginx: Nginx;
let proxy: ConnectProc;
let loginProxy: ConnectProc;
let loginStartedAt = 0;
let adminKey = '';
let aliceKey = '';
let bob: { token: string; projectId: string };
const prefix = `cn${randomBytes(3).toString('hex')}:`;
const password = 'correct horse battery';
const others: ConnectProc[] = [];

async function register(name: string): Promise<{ id: string; token: string }> {
  const r = await call(nginx.url, 'POST', '/api/v1/auth/register', { email: `${name}@example.com`, password, name });
  if (r.status !== 201) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return { id: r.body.user.id, token: r.body.accessToken };
}

beforeAll(async () => {
  if (!hasNginx) return;
  redis = await startRedis();
  raw = new Redis(redis.url);
  const credentialsFile = join(mkdtempSync(join(tmpdir(), 'connect-admin-')), 'credentials');
  const env = {
    MAESTRO_AUTH: 'required',
    MAESTRO_CREDENTIALS_FILE: credentialsFile,
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0',
    RATE_LIMIT_AUTH_PER_MINUTE: '0',
    // short-lived access tokens, so that the login test sees the proxy renew one
    ACCESS_TOKEN_TTL_SECONDS: '10',
  };
  // the first replica creates the admin (and its key file) before the second starts
  const a = await startApiProcess(redis.url, prefix, { ...env, NODE_ID: 'a' });
  await waitFor(() => {
    try {
      adminKey = JSON.parse(readFileSync(credentialsFile, 'utf8')).apiKey;
    } catch {
      /* not yet */
    }
    return Boolean(adminKey);
  }, 10_000, 'the bootstrap admin key');
  const b = await startApiProcess(redis.url, prefix, { ...env, NODE_ID: 'b' });
  replicas = [a, b];
  nginx = await startNginx(replicas.map((p) => p.port));

  const alice = await register('alice');
  const key = await call(nginx.url, 'POST', '/api/v1/api-keys', { name: 'connect test' }, { Authorization: `Bearer ${alice.token}` });
  aliceKey = key.body.key;
  const b1 = await register('bob');
  const bp = await call(nginx.url, 'POST', '/api/v1/projects', { name: "bob's" }, { Authorization: `Bearer ${b1.token}` });
  bob = { token: b1.token, projectId: bp.body.id };

  proxy = await startConnect([nginx.url + '/', '--port', String(await freePort()), '--api-key', aliceKey]);
  if (!proxy.port) throw new Error(`maestro connect exited: ${proxy.stderr()}`);
  loginStartedAt = Date.now();
  loginProxy = await startConnect([nginx.url, '--port', String(await freePort()), '--email', 'alice@example.com'], { MAESTRO_PASSWORD: password });
}, 60_000);

afterAll(async () => {
  await Promise.all([proxy, loginProxy, ...others].map((p) => p?.stop()));
  await nginx?.stop();
  await Promise.all(replicas.map((p) => p.kill('SIGKILL')));
  raw?.disconnect();
  await redis?.stop();
});

describe.runIf(hasNginx)('maestro connect: a local proxy that adds the user’s credential', () => {
  it('refuses to listen on anything but loopback (0.0.0.0, ::): exit 1, and says why', async () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
      const p = await startConnect([nginx.url, '--host', host, '--port', '0', '--api-key', aliceKey]);
      expect(await p.exited).toBe(1);
      expect(p.stderr()).toMatch(/listens on loopback only \(127\.0\.0\.1, ::1 or localhost\)/);
    }
  });

  it('a credential the cluster rejects: exit 1 at start-up with a message naming it', async () => {
    const p = await startConnect([nginx.url, '--port', '0', '--api-key', 'mk_not_a_real_key']);
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(/rejected the API key from --api-key: Invalid or revoked API key/);
    const login = await startConnect([nginx.url, '--port', '0', '--email', 'alice@example.com'], { MAESTRO_PASSWORD: 'wrong password!' });
    expect(await login.exited).toBe(1);
    expect(login.stderr()).toMatch(/refused the login of alice@example\.com/);
    const none = await startConnect([nginx.url, '--port', '0']);
    expect(await none.exited).toBe(1);
    expect(none.stderr()).toMatch(/no credential: pass --api-key/);
  });

  it('says whom it acts as, on which cluster, and where it listens', () => {
    expect(proxy.stdout.join('\n')).toMatch(/acting as alice@example\.com with the API key from --api-key on http:\/\/127\.0\.0\.1:\d+\//);
    expect(proxy.stdout.join('\n')).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+ and ws:\/\/127\.0\.0\.1:\d+ \(loopback only\)/);
  });

  it('the original CLI’s calls through it act as the user and nothing more (another user’s project → 404, a client-sent key is replaced)', async () => {
    const base = proxy.base;
    const project = await j(fetch(`${base}/api/projects`, json({ name: 'through the proxy', workingDir: '/tmp/x' })));
    expect(project.name).toBe('through the proxy');
    const task = await fetch(`${base}/api/tasks`, json({ projectId: project.id, title: 'first', priority: 'high' }));
    expect(task.status).toBe(201);
    const t = await j(task);
    const patched = await fetch(`${base}/api/tasks/${t.id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'in_progress' }) });
    expect(patched.status).toBe(200);
    expect((await j(patched)).status).toBe('in_progress');
    const tasks = await j(fetch(`${base}/api/tasks?projectId=${project.id}`));
    expect(tasks.map((x: any) => x.id)).toEqual([t.id]);
    const projects = (await j(fetch(`${base}/api/projects`))).map((p: any) => p.id);
    expect(projects).toContain(project.id);
    expect(projects).not.toContain(bob.projectId);
    // someone else's project does not exist for this user, whatever the client sends along
    expect((await fetch(`${base}/api/projects/${bob.projectId}`)).status).toBe(404);
    expect((await fetch(`${base}/api/projects/${bob.projectId}`, { headers: { 'X-API-Key': adminKey } })).status).toBe(404);
    expect((await fetch(`${base}/api/projects/${bob.projectId}`, { headers: { Authorization: `Bearer ${bob.token}` } })).status).toBe(404);
    expect((await fetch(`${base}/api/tasks`, json({ projectId: bob.projectId, title: 'sneaky' }))).status).toBe(404);
    const me = await j(fetch(`${base}/api/v1/auth/me`, { headers: { 'X-API-Key': adminKey } }));
    expect(me).toMatchObject({ email: 'alice@example.com', admin: false });

    // the CLI itself, with no credential of its own, pointed at the proxy
    const listed = await runCli(['--server', base, 'task', 'list', '--project', project.id], { MAESTRO_CREDENTIALS_FILE: noCredentials, MAESTRO_API_KEY: '' });
    expect(listed.stderr).toBe('');
    expect(listed.stdout).toContain('first');
    const foreign = await runCli(['--server', base, 'project', 'get', bob.projectId], { MAESTRO_CREDENTIALS_FILE: noCredentials, MAESTRO_API_KEY: '' });
    expect(foreign.status).toBe(2); // 404
  });

  it('serves only this machine’s pages: another site’s Origin or a foreign Host → 403; a local page gets CORS from the proxy', async () => {
    const evil = await fetch(`${proxy.base}/api/projects`, { headers: { Origin: 'https://evil.example' } });
    expect(evil.status).toBe(403);
    expect((await j(evil)).message).toMatch(/--allow-origin https:\/\/evil\.example/);
    const local = await fetch(`${proxy.base}/api/projects`, { headers: { Origin: 'http://localhost:5173' } });
    expect(local.status).toBe(200);
    expect(local.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const preflight = await fetch(`${proxy.base}/api/tasks`, {
      method: 'OPTIONS',
      headers: { Origin: 'tauri://localhost', 'Access-Control-Request-Method': 'PATCH', 'Access-Control-Request-Headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PATCH');
    // DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends its own name as Host
    const rebound = await new Promise<number>((resolve, reject) =>
      request({ host: '127.0.0.1', port: proxy.port, path: '/api/projects', headers: { host: `evil.example:${proxy.port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end(),
    );
    expect(rebound).toBe(403);
    await expect(wsConnect(`ws://127.0.0.1:${proxy.port}/`, { Origin: 'https://evil.example' })).rejects.toThrow(/403/);
  });

  it('a WebSocket through it gets every event exactly once and in order across kill -9 of the replica its cluster socket is on', async () => {
    const base = proxy.base;
    const p = await j(fetch(`${base}/api/projects`, json({ name: 'watched' })));
    const client: RecordingClient = await wsConnect(`ws://127.0.0.1:${proxy.port}/`);
    let n = 0;
    let writing = true;
    const writes: number[] = [];
    const writer = (async () => {
      while (writing) {
        const r = await fetch(`${base}/api/tasks`, json({ projectId: p.id, title: `t${n++}` })).catch(() => undefined);
        writes.push(r?.status ?? 0);
        await sleep(15);
      }
    })();
    const ofProject = (pid: string) => client.events().filter((m) => m.projectId === pid);
    await waitFor(() => ofProject(p.id).length >= 15, 10_000, 'events before the kill');

    // the replica holding the proxy's upstream socket
    const counts = await Promise.all(replicas.map(async (r) => (await call(r.base, 'GET', '/ws-status', undefined, { 'X-API-Key': adminKey })).body.connectedClients as number));
    const victim = replicas[counts.findIndex((c) => c > 0)]!;
    expect(counts.filter((c) => c > 0)).toHaveLength(1);
    const survivor = replicas.find((r) => r !== victim)!;
    const before = ofProject(p.id).length;
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    // Written straight to the survivor at once, while the proxy's socket is being replaced (its first
    // retry waits ≥ 50 ms): events its old socket never carried. One is a new project, of which the
    // client has seen nothing.
    const direct = (path: string, body: unknown) => call(survivor.base, 'POST', path, body, { 'X-API-Key': aliceKey });
    const [made] = await Promise.all([direct('/api/projects', { name: 'made during the outage' }), ...[0, 1, 2, 3].map((i) => direct('/api/tasks', { projectId: p.id, title: `gap${i}` }))]);
    const q = made.body;
    await sleep(1200);
    writing = false;
    await writer;
    expect((await fetch(`${base}/api/tasks`, json({ projectId: q.id, title: 'in q' }))).status).toBe(201);

    const stream = await streamEvents(raw, prefix, p.id);
    const first = ofProject(p.id)[0].id as string;
    const expected = stream.filter((e) => compareIds(e.id, first) >= 0).map((e) => e.id);
    await waitFor(() => ofProject(p.id).length >= expected.length && ofProject(q.id).length >= 2, 10_000, 'every event after the kill');
    await sleep(300); // nothing more (no duplicate) arrives
    expect(ofProject(p.id).map((m) => m.id)).toEqual(expected);
    expect(ofProject(p.id).length).toBeGreaterThan(before + 10); // events came after the kill too
    const qStream = (await streamEvents(raw, prefix, q.id)).map((e) => e.id);
    expect(ofProject(q.id).map((m) => m.id)).toEqual(qStream);
    expect(ofProject(q.id).map((m) => m.type)).toEqual(['project:created', 'task:created']);
    expect(client.closeCode).toBeUndefined(); // the client's socket stayed open throughout
    expect(writes.filter((s) => s === 201).length).toBeGreaterThan(30);
    expect(proxy.stderr()).toMatch(/the cluster closed its side \(1006\); reconnecting/);
    expect(proxy.stdout.join('\n')).toMatch(/reconnected to the cluster after \d+ ms .*resumed \d+ project\(s\) after their last event/);
    // events were committed after the old socket died and before the proxy could have a new one
    const closedAt = Date.parse(/^(\S+) warning: WebSocket \/: the cluster closed its side/m.exec(proxy.stderr())![1]!);
    const inGap = (id: string) => Number(id.split('-')[0]) > killedAt && Number(id.split('-')[0]) < closedAt + 50;
    expect(expected.filter(inGap).length).toBeGreaterThan(0);
    expect(inGap(qStream[0]!)).toBe(true);
    // the survivor holds the socket now
    expect((await call(survivor.base, 'GET', '/ws-status', undefined, { 'X-API-Key': adminKey })).body.connectedClients).toBe(1);
    console.log('[connect kill]', JSON.stringify({ before, after: ofProject(p.id).length, inGap: expected.filter(inGap).length, closedAfterKillMs: closedAt - killedAt }));
    await client.close();
  });

  it('a key revoked while it runs: a clear log line, 401 passed to the client, WebSockets closed 4401', async () => {
    const alice = await call(nginx.url, 'POST', '/api/v1/auth/login', { email: 'alice@example.com', password });
    const made = await call(nginx.url, 'POST', '/api/v1/api-keys', { name: 'to revoke' }, { Authorization: `Bearer ${alice.body.accessToken}` });
    const p = await startConnect([nginx.url, '--port', String(await freePort()), '--api-key', made.body.key]);
    others.push(p);
    expect((await fetch(`${p.base}/api/projects`)).status).toBe(200);
    const ws = await wsConnect(`ws://127.0.0.1:${p.port}/`);
    expect((await call(nginx.url, 'DELETE', `/api/v1/api-keys/${made.body.id}`, undefined, { Authorization: `Bearer ${alice.body.accessToken}` })).status).toBe(200);
    await waitFor(async () => (await fetch(`${p.base}/api/projects`)).status === 401, 5000, 'a 401 through the proxy');
    await waitFor(() => ws.closeCode !== undefined, 5000, 'the WebSocket closed');
    expect(ws.closeCode).toBe(4401);
    expect(p.stderr()).toMatch(/error: the cluster rejected the API key from --api-key \(401 on GET \/api\/projects\): it was revoked/);
    await expect(wsConnect(`ws://127.0.0.1:${p.port}/`)).rejects.toThrow(/401/);
  });

  it('with --email it logs in itself, renews the access token before it expires (10 s tokens), and stops on SIGTERM with 1001 to its clients', async () => {
    expect(loginProxy.port).toBeGreaterThan(0);
    expect(loginProxy.stdout.join('\n')).toMatch(/acting as alice@example\.com with the login of alice@example\.com/);
    const wait = loginStartedAt + 11_000 - Date.now();
    if (wait > 0) await sleep(wait); // the first token has expired by now
    // its WebSocket upgrades carry the token too
    const ws = await wsConnect(`ws://127.0.0.1:${loginProxy.port}/`);
    // a write (with a body, which the proxy would not send twice): the token was renewed in time
    const created = await fetch(`${loginProxy.base}/api/projects`, json({ name: 'by login' }));
    expect(created.status).toBe(201);
    const made = await j(created);
    expect((await j(fetch(`${loginProxy.base}/api/projects`))).map((x: any) => x.id)).toContain(made.id);
    await ws.until((m) => m.some((e) => e.type === 'project:created' && e.data.id === made.id));
    // SIGTERM: its clients are told to reconnect elsewhere (1001), and it exits 0
    loginProxy.child.kill('SIGTERM');
    expect(await loginProxy.exited).toBe(0);
    await waitFor(() => ws.closeCode !== undefined, 2000, 'the close frame');
    expect(ws.closeCode).toBe(1001);
    expect(loginProxy.stderr()).toBe('');
  });
});
