import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserSocketQuota } from '../../src/api/ws/user-socket-quota.js';
import { Keys } from '../../src/shared/keys.js';
import { createLogger } from '../../src/shared/logger.js';
import { createRedis } from '../../src/shared/redis-connection.js';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { startApiProcess, type ApiProcess } from '../helpers/processes.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { connect, type RecordingClient } from '../helpers/ws-client.js';

/**
 * Tenancy limits of the WebSocket gateway (issue 11; contract 00 "Events" and "Tenancy limits"): a
 * user holds at most WS_MAX_CONNECTIONS_PER_USER sockets across the cluster (over it: close 1013,
 * never a slowdown for others), and a replay reads a page at a time, paused while the socket's send
 * buffer is full.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const wsUrl = (base: string, query = '') => base.replace('http', 'ws') + '/' + query;
const opened: RecordingClient[] = [];
const open = async (url: string, headers: Record<string, string> = {}) => {
  const c = await connect(url, headers);
  opened.push(c);
  return c;
};
/** Resolves once the server has admitted the socket (it answers a ping; an unadmitted one never does). */
const admitted = async (c: RecordingClient) => {
  c.ws.send(JSON.stringify({ type: 'ping' }));
  await c.until((m) => m.some((x) => x.type === 'pong'), 5000);
  return c;
};
/** Resolves with 'admitted' once the socket answers a ping, or with the close code if it is closed first. */
const outcome = async (c: RecordingClient): Promise<'admitted' | number> => {
  c.ws.send(JSON.stringify({ type: 'ping' }));
  await c.until((m) => c.closeCode !== undefined || m.some((x) => x.type === 'pong'), 5000);
  return c.closeCode ?? 'admitted';
};
/** Resolves once the server has closed the socket; returns its code. */
const closed = async (c: RecordingClient) => {
  await c.until(() => c.closeCode !== undefined, 5000);
  return c.closeCode;
};
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close().catch(() => undefined)));
});

describe('WS_MAX_CONNECTIONS_PER_USER across replicas', () => {
  let redis: TestRedis;
  let A: Harness;
  let B: Harness;
  let P: ApiProcess | undefined;
  const prefix = `wl${randomBytes(3).toString('hex')}:`;
  const credentials = join(mkdtempSync(join(tmpdir(), 'ws-limits-')), 'credentials');
  const env = {
    MAESTRO_AUTH: 'required',
    MAESTRO_REDIS_PREFIX: prefix,
    MAESTRO_CREDENTIALS_FILE: credentials,
    WS_MAX_CONNECTIONS_PER_USER: '3',
    RATE_LIMIT_AUTH_PER_MINUTE: '0',
  };
  const user = async (email: string) => {
    const r = await A.req('POST', '/api/v1/auth/register', { email, password: 'a long password' });
    expect(r.status).toBe(201);
    return { id: r.body.user.id as string, auth: { Authorization: `Bearer ${r.body.accessToken}` } };
  };
  /** The user's count in Redis across the fields of every replica instance. */
  const stored = async (userId: string) => {
    const h = await A.redis.hgetall(`${prefix}{u:${userId}}:ws-sockets`);
    return Object.values(h).reduce((n, v) => n + Number(v.split(':')[0]), 0);
  };

  beforeAll(async () => {
    redis = await startRedis();
    A = await startHarness(redis.url, env);
    B = await startHarness(redis.url, env);
    // Each replica reads the other's instance from the registry now rather than at its next 5 s
    // heartbeat (the two in-process replicas even share a NODE_ID: instances are what count).
    await A.api.gateway.quota.heartbeat();
    await B.api.gateway.quota.heartbeat();
    await A.api.gateway.quota.heartbeat();
  });
  afterAll(async () => {
    await P?.kill('SIGKILL');
    await B?.close();
    await A?.close();
    await redis?.stop();
  });

  it("a user's 4th socket, on either replica and whatever the credential, is closed 1013 before any event; another user is unaffected; a freed slot is taken again", async () => {
    const alice = await user('alice@example.com');
    const bob = await user('bob@example.com');
    const aliceKey = { 'X-API-Key': (await A.req('POST', '/api/v1/api-keys', { name: 'cli' }, alice.auth)).body.key as string };
    const project = (await A.req('POST', '/api/v1/projects', { name: 'alice' }, alice.auth)).body.id as string;
    const bobProject = (await A.req('POST', '/api/v1/projects', { name: 'bob' }, bob.auth)).body.id as string;

    // Two sockets with a token (one per replica) and one with an API key: the same user, 3 = the cap.
    const mine = [await open(wsUrl(A.base), alice.auth), await open(wsUrl(B.base), alice.auth), await open(wsUrl(A.base), aliceKey)];
    for (const c of mine) await admitted(c);
    expect(await stored(alice.id)).toBe(3);
    const overB = await open(wsUrl(B.base), alice.auth);
    const overA = await open(wsUrl(A.base, '?since=0-0'), aliceKey);
    for (const c of [overB, overA]) {
      expect(await closed(c)).toBe(1013);
      expect(c.closeReason).toContain('WS_MAX_CONNECTIONS_PER_USER=3');
    }
    expect(A.api.gateway.refusedOverCap + B.api.gateway.refusedOverCap).toBe(2);

    // Another user connects on both replicas and gets events; alice's admitted sockets too.
    const bobs = [await admitted(await open(wsUrl(A.base), bob.auth)), await admitted(await open(wsUrl(B.base), bob.auth))];
    await A.req('PUT', `/api/v1/projects/${project}`, { description: 'seen by alice' }, alice.auth);
    await B.req('POST', '/api/v1/tasks', { projectId: bobProject, title: 'seen by bob' }, bob.auth);
    for (const c of mine) await c.until(() => c.events().some((e) => e.type === 'project:updated'));
    for (const c of bobs) await c.until(() => c.events().some((e) => e.data?.title === 'seen by bob'));
    // The refused sockets got nothing but the close (the ?since one was not even replayed).
    expect([...overB.messages, ...overA.messages]).toEqual([]);
    expect(await stored(alice.id)).toBe(3);

    // One of the three closes: its slot is free again, on the other replica too.
    await mine[1]!.close();
    for (let i = 0; i < 100 && (await stored(alice.id)) !== 2; i++) await sleep(20);
    expect(await stored(alice.id)).toBe(2);
    const again = await admitted(await open(wsUrl(A.base), alice.auth));
    await B.req('PUT', `/api/v1/projects/${project}`, { description: 'seen by the new socket' }, alice.auth);
    await again.until(() => again.events().some((e) => e.data?.description === 'seen by the new socket'));
    expect(again.closeCode).toBeUndefined();
    expect(await stored(alice.id)).toBe(3);
    expect(await closed(await open(wsUrl(B.base), alice.auth))).toBe(1013);
  });

  it('a refused socket that then sends a malformed frame does not take the replica down', async () => {
    const dave = await user('dave@example.com');
    for (let i = 0; i < 3; i++) await admitted(await open(wsUrl(A.base), dave.auth));
    const sock = tcpConnect(A.api.port, '127.0.0.1');
    let received = '';
    sock.on('data', (d) => (received += d.toString('latin1')));
    const ended = new Promise((r) => sock.once('close', r));
    sock.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        `Sec-WebSocket-Version: 13\r\nAuthorization: ${dave.auth.Authorization}\r\n\r\n`,
    );
    // An unmasked client frame: a protocol error the server reads once it resumes the refused socket.
    sock.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
    await ended;
    expect(received).toContain('101 Switching Protocols');
    expect((await A.req('GET', '/health')).status).toBe(200);
    expect(await closed(await open(wsUrl(A.base), dave.auth))).toBe(1013);
  });

  it('the sockets of a replica killed with -9 stop counting once it has left the registry (15 s)', async () => {
    // A real API process on the same Redis and prefix (the cluster's third replica).
    P = await startApiProcess(redis.url, prefix, env);
    const carol = await user('carol@example.com');
    const onP = [await open(wsUrl(P.base), carol.auth), await open(wsUrl(P.base), carol.auth), await open(wsUrl(P.base), carol.auth)];
    for (const c of onP) await admitted(c);
    expect(await stored(carol.id)).toBe(3);
    await A.api.gateway.quota.heartbeat(); // A has seen P's instance in the registry
    expect(await closed(await open(wsUrl(A.base), carol.auth))).toBe(1013);

    const killedAt = Date.now();
    await P.kill('SIGKILL');
    for (const c of onP) await closed(c);
    // P's counts are still in Redis and still count while P may be alive (seen in the last 15 s) …
    expect(await stored(carol.id)).toBe(3);
    expect(await closed(await open(wsUrl(A.base), carol.auth))).toBe(1013);
    // … and stop counting once it has left the registry (A reads it every 5 s): ≤ 15 s + 5 s after
    // P's last report, itself at most 5 s before the kill.
    let accepted: RecordingClient | undefined;
    while (!accepted && Date.now() - killedAt < 30_000) {
      await sleep(500);
      const c = await open(wsUrl(A.base), carol.auth);
      const result = await outcome(c);
      if (result === 'admitted') accepted = c;
      else expect(result).toBe(1013);
    }
    const after = Date.now() - killedAt;
    expect(accepted).toBeDefined();
    expect(after).toBeGreaterThan(9_000);
    expect(after).toBeLessThan(23_000);
    // Carol now has the whole cap on the live replicas, and no more.
    await admitted(await open(wsUrl(A.base), carol.auth));
    await admitted(await open(wsUrl(A.base), carol.auth));
    expect(await closed(await open(wsUrl(B.base), carol.auth))).toBe(1013);
  }, 60_000);
});

describe('UserSocketQuota with Redis away', () => {
  it('decides on this replica’s count alone, and writes the count once Redis is back', async () => {
    const own = await startRedis();
    const redis = createRedis(own.url, { failFast: true, commandTimeoutMs: 1000 });
    redis.on('error', () => undefined);
    const keys = new Keys('qa:');
    const quota = new UserSocketQuota({ redis, keys, nodeId: 'n1', limit: 2, logger: createLogger('test', 'silent') });
    const u = { id: 'usr_q', kind: 'user' as const, admin: false };
    try {
      await own.stop();
      const first = await quota.acquire(u);
      const second = await quota.acquire(u);
      expect(first).toBeDefined();
      expect(second).toBeDefined();
      expect(await quota.acquire(u)).toBeUndefined();
      // The local admin is never counted.
      for (let i = 0; i < 5; i++) expect(await quota.acquire({ id: 'local-admin', kind: 'local', admin: true })).toBeDefined();
      first!.release();
      const third = await quota.acquire(u);
      expect(third).toBeDefined();
      expect(quota.localCount(u.id)).toBe(2);

      await own.restart();
      for (let i = 0; i < 100 && redis.status !== 'ready'; i++) await sleep(50);
      await quota.heartbeat();
      const h = await redis.hgetall(keys.wsUserSockets(u.id));
      expect(Object.keys(h)).toEqual([quota.instance]);
      expect(h[quota.instance]!.split(':')[0]).toBe('2');
      expect(await quota.acquire(u)).toBeUndefined();
      second!.release();
      third!.release();
      for (let i = 0; i < 100 && (await redis.exists(keys.wsUserSockets(u.id))) === 1; i++) await sleep(20);
      expect(await redis.exists(keys.wsUserSockets(u.id))).toBe(0);
    } finally {
      redis.disconnect();
      await own.stop();
    }
  });
});

describe('bounded replay (WS_REPLAY_PAGE)', () => {
  let redis: TestRedis;
  let h: Harness;
  const EVENTS = 2000;
  beforeAll(async () => {
    redis = await startRedis();
    h = await startHarness(redis.url, { WS_REPLAY_PAGE: '10', WS_MAX_BUFFERED_BYTES: String(256 * 1024) });
  });
  afterAll(async () => {
    await h?.close();
    await redis?.stop();
  });
  const xrangeCalls = async () => {
    const m = /cmdstat_xrange:calls=(\d+)/.exec(await h.redis.info('commandstats'));
    return m ? Number(m[1]) : 0;
  };

  it('a client that does not read costs a bounded number of XRANGE pages while others are served, then gets every event exactly once, in order', async () => {
    const project = (await h.req('POST', '/api/v1/projects', { name: 'replayed' })).body.id as string;
    const description = 'd'.repeat(8000);
    for (let i = 0; i < EVENTS; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => h.req('POST', '/api/v1/tasks', { projectId: project, title: `t${i + j}`, description })));
    }
    const stream = await h.events(project);
    expect(stream).toHaveLength(EVENTS + 1);
    const since = stream[0]!.id;
    const expected = stream.slice(1).map((e) => e.id);

    await h.redis.config('RESETSTAT');
    const sentBefore = h.api.gateway.sentCount;
    const slow = await open(wsUrl(h.base, `?since=${since}&projectIds=${project}`));
    const raw = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    await sleep(1500);
    const pagesPaused = await xrangeCalls();
    const sentPaused = h.api.gateway.sentCount - sentBefore;
    await sleep(1500);
    // Paused: no further page is read and nothing more is queued for it.
    expect(await xrangeCalls()).toBe(pagesPaused);
    expect(h.api.gateway.sentCount - sentBefore).toBe(sentPaused);
    console.log('[bounded replay]', JSON.stringify({ pagesWhilePaused: pagesPaused, entriesSentWhilePaused: sentPaused, ofEntries: EVENTS }));
    // The replica read at most the page it is sending from, beyond what it handed to the socket
    // (what the kernel's socket buffers took, plus the low watermark): far from the whole stream.
    expect(pagesPaused).toBeLessThanOrEqual(Math.ceil(sentPaused / 10) + 1);
    expect(pagesPaused).toBeLessThan(EVENTS / 10 / 2);
    expect(slow.closeCode).toBeUndefined();

    // Meanwhile the replica serves others: requests, and another client's full replay.
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) expect((await h.req('GET', `/api/v1/projects/${project}`)).status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(2000);
    const other = await open(wsUrl(h.base, `?since=${since}&projectIds=${project}`));
    await other.until(() => other.events().length >= EVENTS, 20_000);
    expect(other.events().map((e) => e.id)).toEqual(expected);

    // It reads again: every event once, in order, and then live ones.
    raw.resume();
    await slow.until(() => slow.events().length >= EVENTS, 20_000);
    await h.req('POST', '/api/v1/tasks', { projectId: project, title: 'live' });
    await slow.until(() => slow.events().length >= EVENTS + 1);
    await sleep(200);
    const got = slow.events().map((e) => e.id);
    expect(got.slice(0, EVENTS)).toEqual(expected);
    expect(slow.events().slice(EVENTS).map((e) => e.data.title)).toEqual(['live']);
    expect(slow.closeCode).toBeUndefined();
  }, 120_000);
});
