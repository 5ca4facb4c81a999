import { describe, expect, it } from 'vitest';
import { envelope } from '../../src/api/ws/event-envelope.js';
import { readClientFrame } from '../../src/cli/connect/client-frames.js';
import { parseBindHost, parseServerUrl } from '../../src/cli/connect/connect-options.js';
import { readFrameHead } from '../../src/cli/connect/event-frames.js';
import { EventPositions, FLOOR_MARGIN_MS } from '../../src/cli/connect/event-positions.js';
import { forwardedRequestHeaders } from '../../src/cli/connect/http-forward.js';
import { isLocalOrigin, isLoopbackAddress, isLoopbackHostHeader } from '../../src/cli/connect/loopback.js';
import { renewAfterMs } from '../../src/cli/connect/login-credential.js';

/** The rules of `maestro connect` that need no cluster (contract 08, "Original clients"). */
describe('maestro connect rules', () => {
  it('loopback: 127/8, ::1 and mapped IPv4 are local; 0.0.0.0, ::, LAN addresses and names are not', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', 'localhost', '', undefined]) expect(isLoopbackAddress(a), String(a)).toBe(false);
    expect(isLoopbackHostHeader('localhost:3000')).toBe(true);
    expect(isLoopbackHostHeader('[::1]:3000')).toBe(true);
    expect(isLoopbackHostHeader('evil.example:3000')).toBe(false);
    expect(isLoopbackHostHeader('127.0.0.1.evil.example')).toBe(false);
  });

  it('origins: local pages and the desktop UI are local; other sites and null are not', () => {
    for (const o of ['http://localhost:5173', 'https://127.0.0.1', 'tauri://localhost', 'http://tauri.localhost', 'https://tauri.localhost']) expect(isLocalOrigin(o), o).toBe(true);
    for (const o of ['https://evil.example', 'null', 'http://localhost.evil.example', 'file://', 'tauri://evil']) expect(isLocalOrigin(o), o).toBe(false);
  });

  it('options: --host only loopback or localhost; the server URL loses trailing slashes, keeps a path, refuses credentials', () => {
    expect(parseBindHost('127.0.0.1')).toBe('127.0.0.1');
    expect(parseBindHost('[::1]')).toBe('::1');
    expect(parseBindHost('localhost')).toBe('localhost');
    for (const h of ['0.0.0.0', '::', 'example.com', 'foo.localhost']) expect(() => parseBindHost(h), h).toThrow(/loopback only/);
    expect(parseServerUrl('https://m.example.com///').href).toBe('https://m.example.com/');
    expect(parseServerUrl('https://m.example.com/maestro/').pathname).toBe('/maestro');
    expect(() => parseServerUrl('https://u:p@m.example.com')).toThrow(/--api-key/);
    expect(() => parseServerUrl('ftp://m.example.com')).toThrow(/http/);
  });

  it('forwarded headers: the client’s credentials, cookies and hop-by-hop headers never reach the cluster', () => {
    const h = forwardedRequestHeaders({
      authorization: 'Bearer theirs',
      'x-api-key': 'mk_theirs',
      cookie: 'a=b',
      connection: 'keep-alive, x-custom',
      'x-custom': '1',
      host: 'localhost:3000',
      origin: 'http://localhost:5173',
      'content-type': 'application/json',
      'idempotency-key': 'k1',
    });
    expect(h).toEqual({ 'content-type': 'application/json', 'idempotency-key': 'k1' });
  });

  it('frame heads: read from the server’s own envelope without parsing a large data', () => {
    const big = JSON.stringify({ id: 's1', timeline: Array.from({ length: 5000 }, (_, i) => ({ message: `entry ${i} ,"id":"1-1","projectId":"x"}` })) });
    const frame = Buffer.from(envelope({ id: '1700000000000-3', projectId: 'proj "q"', type: 'session:updated' }, big));
    expect(frame.length).toBeGreaterThan(64 * 1024);
    expect(readFrameHead(frame)).toEqual({ kind: 'event', type: 'session:updated', id: '1700000000000-3', projectId: 'proj "q"' });
    expect(readFrameHead(Buffer.from(envelope({ id: '1-0', projectId: null, type: 'template:updated' }, '{}')))).toEqual({ kind: 'event', type: 'template:updated', id: '1-0', projectId: null });
    expect(readFrameHead(Buffer.from('{"type":"pong","timestamp":12}'))).toEqual({ kind: 'control', type: 'pong', timestamp: 12 });
    expect(readFrameHead(Buffer.from('{"type":"resync_required"}'))).toEqual({ kind: 'control', type: 'resync_required' });
    expect(readFrameHead(Buffer.from('not json'))).toEqual({ kind: 'other' });
  });

  it('client frames: only shapes the server accepts change what the relay remembers', () => {
    expect(readClientFrame('{"type":"subscribe","projectIds":["a"],"deltas":true}')).toEqual({ type: 'subscribe', projectIds: ['a'], deltas: true });
    expect(readClientFrame('{"type":"subscribe","projectIds":"a"}')).toEqual({ type: 'other' });
    expect(readClientFrame('{"type":"resume","since":{"p":"1-0"}}')).toEqual({ type: 'resume', since: { p: '1-0' } });
    expect(readClientFrame('{"type":"heartbeat"}')).toEqual({ type: 'other' });
  });

  it('positions: seen projects resume after their greatest id, others from the cluster-clock floor', () => {
    const pos = new EventPositions(0);
    pos.clusterTime(1_700_000_000_000);
    pos.note('a', '1700000000500-0');
    pos.note('a', '1700000000400-2'); // a whole session:updated arriving late: not a step back
    expect(pos.resume(['a', 'b'])).toEqual({ a: '1700000000500-0', b: `${1_700_000_000_000 - FLOOR_MARGIN_MS}-0` });
    const given = new EventPositions(0, '1600000000000-7'); // the client's own ?since= is the floor
    given.clusterTime(1_700_000_000_000);
    expect(given.resume(['x'])).toEqual({ x: '1600000000000-7' });
    given.clientResume({ x: '1650000000000-0' });
    expect(given.resume(['x'])).toEqual({ x: '1650000000000-0' });
  });

  it('a login renews its token a quarter of its life before it ends, at most a minute before', () => {
    expect(renewAfterMs(10)).toBe(7500);
    expect(renewAfterMs(900)).toBe(840_000);
    expect(renewAfterMs(0)).toBe(1000);
  });
});
