import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Request } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopbackHop } from '../../src/api/mcp-loopback.js';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { as, startAuthWorld, type AuthWorld } from '../helpers/auth-world.js';
import { CONTRACT_TOOLS, runClaimFlow, structured, textOf } from '../helpers/mcp-flow.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { connect, type RecordingClient } from '../helpers/ws-client.js';

/**
 * `/api/v1/mcp` (contract 08, "MCP"): the SDK's own client over the Streamable HTTP transport, against
 * a replica with MAESTRO_AUTH=required. The endpoint sits behind the `/api` chain: no credential →
 * 401; a user's key acts with that user's rights only; the rate limits count its requests. Every
 * effect is checked through the HTTP API.
 */
let redis: TestRedis;
let w: AuthWorld;
let alice: { id: string; token: string; key: string; project: string; task: { id: string } };
let bobProject: string;
const open: Client[] = [];

/** An MCP client of `base`'s `/api/v1/mcp` presenting `headers`. */
async function mcpClient(base: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'mcp-http-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/api/v1/mcp`), { requestInit: { headers } }));
  open.push(client);
  return client;
}

beforeAll(async () => {
  redis = await startRedis();
  w = await startAuthWorld(redis.url);
  const a = await w.user('mcp-alice');
  const b = await w.user('mcp-bob');
  const project = (await w.h.req('POST', '/api/v1/projects', { name: 'alice project' }, as(a.token))).body.id;
  const task = (await w.h.req('POST', '/api/v1/tasks', { projectId: project, title: 'alice task' }, as(a.token))).body;
  const key = (await w.h.req('POST', '/api/v1/api-keys', { name: 'alice mcp' }, as(a.token))).body.key;
  alice = { id: a.id, token: a.token, key, project, task };
  bobProject = (await w.h.req('POST', '/api/v1/projects', { name: 'bob project' }, as(b.token))).body.id;
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.close().catch(() => undefined)));
  await w?.h.close();
  await redis?.stop();
});

describe('/api/v1/mcp with MAESTRO_AUTH=required', () => {
  it('without a credential: 401 UNAUTHORIZED, and the SDK client cannot connect', async () => {
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
    const r = await w.h.req('POST', '/api/v1/mcp', init, { accept: 'application/json, text/event-stream' });
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ error: true, code: 'UNAUTHORIZED' });
    // the SDK's StreamableHTTPError carries the HTTP status as its code
    await expect(mcpClient(w.h.base)).rejects.toMatchObject({ code: 401, message: expect.stringContaining('UNAUTHORIZED') });
    await expect(mcpClient(w.h.base, { 'X-API-Key': 'mk_nope.nope' })).rejects.toMatchObject({ code: 401 });
  });

  it('is stateless: GET and DELETE answer 405; a POST answers JSON without an Mcp-Session-Id', async () => {
    for (const method of ['GET', 'DELETE']) {
      const r = await w.h.req(method, '/api/v1/mcp', undefined, as(alice.key));
      expect([r.status, r.body.error?.code]).toEqual([405, -32000]);
    }
    const res = await fetch(`${w.h.base}/api/v1/mcp`, {
      method: 'POST',
      headers: { ...as(alice.key), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.headers.get('mcp-session-id')).toBeNull();
    expect(((await res.json()) as { result: { serverInfo: { name: string } } }).result.serverInfo.name).toBe('maestro');
  });

  it('a malformed or unknown JSON-RPC message is a 4xx or a JSON-RPC error, never a 5xx', async () => {
    const bodies = [[], {}, 'null', 7, { jsonrpc: '2.0' }, { jsonrpc: '2.0', id: 1, method: 'nope' }, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'nope', arguments: {} } }, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get_task', arguments: { taskId: 42 } } }];
    for (const b of bodies) {
      const r = await w.h.req('POST', '/api/v1/mcp', typeof b === 'string' ? b : JSON.stringify(b), { ...as(alice.key), 'content-type': 'application/json', accept: 'application/json, text/event-stream' });
      expect([JSON.stringify(b), r.status < 500]).toEqual([JSON.stringify(b), true]);
      if (r.status === 200) expect(r.body.error ?? r.body.result?.isError).toBeTruthy();
    }
  });

  it("a user's key: the tools work with that user's rights, another user's project is NOT_FOUND", async () => {
    const client = await mcpClient(w.h.base, as(alice.key));
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual([...CONTRACT_TOOLS].sort());
    expect(structured(await client.callTool({ name: 'get_task', arguments: { taskId: alice.task.id } }))).toMatchObject({ id: alice.task.id, title: 'alice task' });
    const made = structured(await client.callTool({ name: 'create_task', arguments: { projectId: alice.project, title: 'made over http' } }));
    expect((await w.h.req('GET', `/api/v1/tasks/${made.id}`, undefined, as(alice.token))).body).toMatchObject({ title: 'made over http', projectId: alice.project });
    const updated = structured(await client.callTool({ name: 'update_task', arguments: { taskId: made.id, priority: 'high', description: 'now with words' } }));
    expect(updated).toMatchObject({ priority: 'high', description: 'now with words', version: made.version + 1 });
    for (const [name, args] of [
      ['project_info', { projectId: bobProject }],
      ['create_task', { projectId: bobProject, title: 'sneaky' }],
      ['list_tasks', { projectId: bobProject }],
    ] as const) {
      const r = await client.callTool({ name, arguments: args });
      if (name === 'list_tasks') expect(structured(r).tasks).toEqual([]);
      else expect([r.isError, textOf(r)]).toEqual([true, `NOT_FOUND: Project with id '${bobProject}' not found`]);
    }
    expect((await w.h.req('GET', `/api/v1/tasks?projectId=${bobProject}`, undefined, as(w.adminKey))).body).toEqual([]);
    // a tool that needs a session, with a credential that is not a session key and no sessionId
    const noSession = await client.callTool({ name: 'session_info', arguments: {} });
    expect(noSession.isError).toBe(true);
    expect(textOf(noSession)).toMatch(/^VALIDATION_ERROR: sessionId is required/);
  });

  it("a session key: the session and project it is scoped to are the tools' defaults; its events reach a WebSocket watcher", async () => {
    const sid = (await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: alice.project, taskIds: [alice.task.id] }, { ...as(alice.token), Prefer: 'respond-async' })).body.sessionId;
    const key = (await w.h.req('POST', `/api/v1/sessions/${sid}/api-key`, {}, as(alice.token))).body.key;
    const watcher = await connect(w.h.base.replace('http', 'ws') + '/', as(alice.token));
    try {
      const client = await mcpClient(w.h.base, as(key));
      expect(client.getInstructions()).toContain(sid);
      expect(structured(await client.callTool({ name: 'session_info', arguments: {} }))).toMatchObject({ id: sid, projectId: alice.project });
      expect(structured(await client.callTool({ name: 'project_info', arguments: {} }))).toMatchObject({ id: alice.project });
      expect(structured(await client.callTool({ name: 'report_progress', arguments: { message: 'via http', taskIds: [alice.task.id] } }))).toMatchObject({ sessionId: sid, sessionStatus: 'working' });
      expect((await w.h.req('GET', `/api/v1/tasks/${alice.task.id}`, undefined, as(alice.token))).body.sessionStatus).toBe('working');
      await watcher.until(() => watcher.events().some((e) => e.type === 'task:updated' && e.data.id === alice.task.id && e.data.sessionStatus === 'working'));
    } finally {
      await watcher.close();
    }
  });
});

describe('/api/v1/mcp is rate-limited like any /api/v1 route', () => {
  let world: AuthWorld;
  beforeAll(async () => {
    world = await startAuthWorld(redis.url, { RATE_LIMIT_PRINCIPAL_PER_MINUTE: '12' });
  });
  afterAll(async () => {
    await world?.h.close();
  });

  it('a principal over its limit is refused (429 for the MCP POST, or RATE_LIMITED for a tool call), another principal is not', async () => {
    const user = await world.user('limited');
    const project = (await world.h.req('POST', '/api/v1/projects', { name: 'limited' }, as(user.token))).body.id;
    const client = await mcpClient(world.h.base, as(user.token));
    let refusal = '';
    for (let i = 0; i < 20 && !refusal; i++) {
      try {
        const r = await client.callTool({ name: 'project_info', arguments: { projectId: project } });
        if (r.isError) refusal = textOf(r);
      } catch (err) {
        refusal = String((err as Error).message);
      }
    }
    expect(refusal).toMatch(/RATE_LIMITED|429/);
    const other = await world.user('unlimited');
    const theirs = (await world.h.req('POST', '/api/v1/projects', { name: 'theirs' }, as(other.token))).body.id;
    const fresh = await mcpClient(world.h.base, as(other.token));
    expect(structured(await fresh.callTool({ name: 'project_info', arguments: { projectId: theirs } }))).toMatchObject({ id: theirs });
  });

  it("a hop's caller address counts only when sealed by this replica", () => {
    const hop = new LoopbackHop(1000, 1);
    const forged = { headers: { 'x-maestro-hop': 'guess', 'x-maestro-hop-ip': '203.0.113.9' } } as unknown as Request;
    expect(hop.clientIp(forged)).toBeUndefined();
    expect(hop.clientIp({ headers: { 'x-maestro-hop-ip': '203.0.113.9' } } as unknown as Request)).toBeUndefined();
    hop.close();
  });
});

describe('/api/v1/mcp with MAESTRO_AUTH=disabled (the local admin)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(redis.url);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('needs no credential and acts as the local admin', async () => {
    const project = (await h.req('POST', '/api/v1/projects', { name: 'local' })).body.id;
    const client = await mcpClient(h.base);
    const t = structured(await client.callTool({ name: 'create_task', arguments: { projectId: project, title: 'local task' } }));
    expect((await h.req('GET', `/api/v1/tasks/${t.id}`)).body.title).toBe('local task');
    const missing = await client.callTool({ name: 'get_task', arguments: { taskId: 'task_nope' } });
    expect([missing.isError, textOf(missing)]).toEqual([true, "NOT_FOUND: Task with id 'task_nope' not found"]);
  });
});

describe('the claim → report progress → complete flow over HTTP (needs the coordination routes of contract 08)', () => {
  let watcher: RecordingClient;
  afterAll(async () => {
    await watcher?.close();
  });

  it("with a user's key and explicit sessionId/projectId: claimed, reported, completed and released, seen over HTTP and WebSocket", async () => {
    const project = (await w.h.req('POST', '/api/v1/projects', { name: 'claims over http' }, as(alice.token))).body.id;
    const sessionId = (await w.h.req('POST', '/api/v1/sessions', { projectId: project, taskIds: [] }, as(alice.token))).body.id;
    watcher = await connect(w.h.base.replace('http', 'ws') + '/', as(alice.token));
    const client = await mcpClient(w.h.base, as(alice.key));
    await runClaimFlow({
      call: (name, args) => client.callTool({ name, arguments: args }),
      api: w.h.req,
      headers: as(alice.token),
      projectId: project,
      sessionId,
      context: { projectId: project, sessionId },
      watcher,
    });
  });
});
