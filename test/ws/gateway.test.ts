import { beforeAll, describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/use-harness.js';
import { connect } from '../helpers/ws-client.js';

const h = useHarness();
let wsBase: string;
beforeAll(async () => {
  wsBase = h.base.replace('http', 'ws');
});

describe('WebSocket connection (contract 03)', () => {
  it('accepts an upgrade on any path and answers ping with pong only to that client', async () => {
    const a = await connect(`${wsBase}/anything/at/all`);
    const b = await connect(`${wsBase}/`);
    a.ws.send(JSON.stringify({ type: 'ping' }));
    await a.until((m) => m.some((x) => x.type === 'pong'));
    const pong = a.messages.find((x) => x.type === 'pong');
    expect(Object.keys(pong)).toEqual(['type', 'timestamp']);
    expect(typeof pong.timestamp).toBe('number');
    await new Promise((r) => setTimeout(r, 100));
    expect(b.messages).toEqual([]);
    await a.close();
    await b.close();
  });

  it('ignores non-JSON and unknown messages and keeps the connection open', async () => {
    const a = await connect(wsBase);
    a.ws.send('not json');
    a.ws.send(JSON.stringify({ type: 'heartbeat' }));
    a.ws.send(JSON.stringify({ type: 'ping' }));
    await a.until((m) => m.some((x) => x.type === 'pong'));
    expect(a.ws.readyState).toBe(a.ws.OPEN);
    await a.close();
  });

  it('delivers events with the envelope type, event, data, timestamp, id, projectId', async () => {
    const a = await connect(wsBase);
    const p = await h.req('POST', '/api/v1/projects', { name: 'ws' });
    await a.until((m) => m.length >= 1);
    const msg = a.messages[0];
    expect(Object.keys(msg)).toEqual(['type', 'event', 'data', 'timestamp', 'id', 'projectId']);
    expect(msg.type).toBe('project:created');
    expect(msg.event).toBe('project:created');
    expect(msg.data).toEqual(p.body);
    expect(msg.projectId).toBe(p.body.id);
    expect(msg.id).toMatch(/^\d+-\d+$/);
    await a.close();
  });

  it('/ws-status reports connected clients, and additively the cluster', async () => {
    const a = await connect(wsBase);
    const r = await h.req('GET', '/ws-status');
    expect(r.body.connectedClients).toBe(1);
    expect(r.body.clients).toEqual([{ readyState: 1, readyStateText: 'OPEN' }]);
    expect(r.body.cluster.connectedClients).toBeGreaterThanOrEqual(1);
    await a.close();
  });
});
