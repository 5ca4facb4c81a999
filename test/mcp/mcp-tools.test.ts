import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiCallError, type ApiReply, type McpApi } from '../../src/mcp/api-caller.js';
import { createMaestroMcpServer, MCP_TOOL_NAMES } from '../../src/mcp/mcp-server.js';
import { mcpConfig, unexpanded } from '../../src/mcp/agent-config.js';
import { DEFAULT_ORCHESTRATOR_TEMPLATE, DEFAULT_WORKER_TEMPLATE } from '../../src/shared/templates/default-templates.js';
import { CONTRACT_TOOLS, structured, textOf } from '../helpers/mcp-flow.js';

/**
 * The requests each coordination tool sends, as contract 08 words them (dependencies, ready list,
 * claims), and how their answers become results. The server runs with the SDK's own client over its
 * in-memory transport and an API caller that records each request and answers it as the contract
 * says; the same tools against the real API are in mcp-stdio.test.ts and mcp-http.test.ts.
 */

/** A task rendering as the API answers one (contract 01 plus contract 08's derived fields). */
const task = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  projectId: 'proj_1',
  parentId: null,
  title: id,
  description: '',
  status: 'todo',
  priority: 'medium',
  createdAt: 1,
  updatedAt: 1,
  startedAt: null,
  completedAt: null,
  initialPrompt: '',
  sessionIds: [],
  skillIds: [],
  agentIds: [],
  dependencies: [],
  blockedBy: [],
  dependents: [],
  version: 1,
  ...extra,
});

interface Sent {
  method: string;
  path: string;
  body?: unknown;
}

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** A client of a server over `answer` (called with every request, after it is recorded in `sent`). */
async function serve(answer: (s: Sent) => ApiReply, defaults = { sessionId: 'sess_1', projectId: 'proj_1' }): Promise<{ client: Client; sent: Sent[] }> {
  const sent: Sent[] = [];
  const api: McpApi = {
    request: async (method, path, body) => {
      const s = { method, path, ...(body !== undefined ? { body } : {}) };
      sent.push(s);
      return answer(s);
    },
  };
  const [a, b] = InMemoryTransport.createLinkedPair();
  await createMaestroMcpServer({ api, defaults }).connect(a);
  const client = new Client({ name: 'tools-test', version: '1' });
  await client.connect(b);
  clients.push(client);
  return { client, sent };
}

describe('the tool list', () => {
  it('is exactly the tools contract 08 names', () => {
    expect([...MCP_TOOL_NAMES].sort()).toEqual([...CONTRACT_TOOLS].sort());
  });
});

describe('the coordination tools send contract 08 requests', () => {
  it('add_dependency / remove_dependency: POST …/dependencies {taskId} and DELETE …/dependencies/:taskId, answering the task', async () => {
    const { client, sent } = await serve((s) => ({ status: 200, body: s.method === 'DELETE' ? { success: true } : task('task_a', { dependencies: ['task_b'], blockedBy: ['task_b'] }) }));
    expect(structured(await client.callTool({ name: 'add_dependency', arguments: { taskId: 'task_a', dependsOn: 'task_b' } }))).toMatchObject({ id: 'task_a', blockedBy: ['task_b'] });
    // a body that is not a task: the task as it now is
    await client.callTool({ name: 'remove_dependency', arguments: { taskId: 'task_a', dependsOn: 'task_b' } });
    expect(sent).toEqual([
      { method: 'POST', path: '/v1/tasks/task_a/dependencies', body: { taskId: 'task_b' } },
      { method: 'DELETE', path: '/v1/tasks/task_a/dependencies/task_b' },
      { method: 'GET', path: '/v1/tasks/task_a' },
    ]);
  });

  it('ready_tasks: GET /v1/tasks/ready?projectId=… (the project in context), paged by limit/cursor into {tasks, nextCursor}', async () => {
    const { client, sent } = await serve(() => ({ status: 200, body: [task('task_r')], nextCursor: 'c2' }));
    expect(structured(await client.callTool({ name: 'ready_tasks', arguments: {} }))).toMatchObject({ tasks: [{ id: 'task_r' }], nextCursor: 'c2' });
    await client.callTool({ name: 'ready_tasks', arguments: { projectId: 'proj_2', limit: 5, cursor: 'c2' } });
    expect(sent.map((s) => s.path)).toEqual(['/v1/tasks/ready?projectId=proj_1', '/v1/tasks/ready?projectId=proj_2&limit=5&cursor=c2']);
  });

  it('claim_task / renew_claim / release_claim: POST …/claim {sessionId, leaseMs?}, POST …/claim/renew, DELETE …/claim?sessionId=', async () => {
    const claimed = task('task_c', { status: 'in_progress', claimedBy: { sessionId: 'sess_1', at: 5, expiresAt: 600_005 } });
    const { client, sent } = await serve(() => ({ status: 200, body: claimed }));
    expect(structured(await client.callTool({ name: 'claim_task', arguments: { taskId: 'task_c' } }))).toMatchObject({ claimedBy: { sessionId: 'sess_1' } });
    await client.callTool({ name: 'claim_task', arguments: { taskId: 'task_c', sessionId: 'sess_9', leaseMs: 1000 } });
    await client.callTool({ name: 'renew_claim', arguments: { taskId: 'task_c', leaseMs: 2000 } });
    await client.callTool({ name: 'release_claim', arguments: { taskId: 'task_c' } });
    expect(sent).toEqual([
      { method: 'POST', path: '/v1/tasks/task_c/claim', body: { sessionId: 'sess_1' } },
      { method: 'POST', path: '/v1/tasks/task_c/claim', body: { sessionId: 'sess_9', leaseMs: 1000 } },
      { method: 'POST', path: '/v1/tasks/task_c/claim/renew', body: { sessionId: 'sess_1', leaseMs: 2000 } },
      { method: 'DELETE', path: '/v1/tasks/task_c/claim?sessionId=sess_1' },
    ]);
  });

  it('claim_next_task: POST /v1/tasks/claim-next {projectId, sessionId}; 200 → {claimed: true, task}, 204 → {claimed: false, task: null}', async () => {
    let next: ApiReply = { status: 200, body: task('task_n', { status: 'in_progress' }) };
    const { client, sent } = await serve(() => next);
    expect(structured(await client.callTool({ name: 'claim_next_task', arguments: {} }))).toMatchObject({ claimed: true, task: { id: 'task_n' } });
    next = { status: 204, body: {} };
    expect(structured(await client.callTool({ name: 'claim_next_task', arguments: { leaseMs: 30_000 } }))).toEqual({ claimed: false, task: null });
    expect(sent).toEqual([
      { method: 'POST', path: '/v1/tasks/claim-next', body: { projectId: 'proj_1', sessionId: 'sess_1' } },
      { method: 'POST', path: '/v1/tasks/claim-next', body: { projectId: 'proj_1', sessionId: 'sess_1', leaseMs: 30_000 } },
    ]);
  });

  it("a 409 CONFLICT is a tool error with the API's code and message (and status and details in _meta)", async () => {
    const { client } = await serve(() => {
      throw new ApiCallError(409, 'CONFLICT', 'Task task_c is claimed by session sess_2', { sessionId: 'sess_2' });
    });
    const r = await client.callTool({ name: 'claim_task', arguments: { taskId: 'task_c' } });
    expect([r.isError, textOf(r), r.structuredContent]).toEqual([true, 'CONFLICT: Task task_c is claimed by session sess_2', undefined]);
    expect(r._meta).toEqual({ 'maestro/error': { status: 409, code: 'CONFLICT', message: 'Task task_c is claimed by session sess_2', details: { sessionId: 'sess_2' } } });
  });

  it('without a session in context and no sessionId: VALIDATION_ERROR, and nothing is sent', async () => {
    const { client, sent } = await serve(() => ({ status: 200, body: {} }), { sessionId: '', projectId: '' });
    for (const name of ['claim_task', 'claim_next_task', 'report_progress']) {
      const r = await client.callTool({ name, arguments: { taskId: 't', message: 'm' } });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/^VALIDATION_ERROR: (sessionId|projectId) is required/);
    }
    expect(sent).toEqual([]);
  });

  it('arguments outside the input schema are refused by the SDK before any request', async () => {
    const { client, sent } = await serve(() => ({ status: 200, body: {} }));
    const r = await client.callTool({ name: 'claim_task', arguments: { taskId: 'task_c', leaseMs: -1 } });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/Input validation error/);
    expect(sent).toEqual([]);
  });
});

describe("the agent's MCP configuration", () => {
  it('starts `<node> <cli> mcp`, names the session variables it has, and refers to the key without writing it', () => {
    expect(mcpConfig('/usr/bin/node', '/pkg/dist/cli/index.js')).toEqual({ mcpServers: { maestro: { type: 'stdio', command: '/usr/bin/node', args: ['/pkg/dist/cli/index.js', 'mcp'] } } });
    const c = mcpConfig('/usr/bin/node', '/pkg/dist/cli/index.js', { MAESTRO_SERVER_URL: 'http://x:3000', MAESTRO_SESSION_ID: 's1', MAESTRO_PROJECT_ID: 'p1', MAESTRO_API_KEY: 'mk_secret.value', MAESTRO_API_URL: '' });
    expect(c.mcpServers.maestro.env).toEqual({ MAESTRO_SERVER_URL: 'http://x:3000', MAESTRO_SESSION_ID: 's1', MAESTRO_PROJECT_ID: 'p1', MAESTRO_API_KEY: '${MAESTRO_API_KEY:-}' });
    expect(JSON.stringify(c)).not.toContain('mk_secret');
    expect([unexpanded('${MAESTRO_API_KEY:-}'), unexpanded('${MAESTRO_API_KEY}'), unexpanded('mk_a.b'), unexpanded(undefined)]).toEqual([true, true, false, false]);
  });
});

describe('the default worker and orchestrator templates', () => {
  it('tell the agent the maestro MCP server exists, how to add it, and name only tools it has', () => {
    for (const template of [DEFAULT_WORKER_TEMPLATE, DEFAULT_ORCHESTRATOR_TEMPLATE]) {
      expect(template).toContain('## Maestro MCP Server');
      const section = template.slice(template.indexOf('## Maestro MCP Server'), template.indexOf('\n## ', template.indexOf('## Maestro MCP Server')));
      const named = [...section.matchAll(/`([a-z]+(?:_[a-z]+)+)`/g)].map((m) => m[1]!);
      expect(section).toContain('`maestro mcp config`');
      expect(named.length).toBeGreaterThan(15);
      expect(named.filter((n) => !MCP_TOOL_NAMES.includes(n))).toEqual([]);
    }
  });
});
