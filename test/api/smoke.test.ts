import { describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();

describe('smoke', () => {
  it('creates a project, a task and a session, and links them', async () => {
    const p = await h.req('POST', '/api/projects', { name: ' P ' });
    expect(p.status).toBe(201);
    expect(p.body.name).toBe('P');
    const t = await h.req('POST', '/api/tasks', { projectId: p.body.id, title: 'T' });
    expect(t.status).toBe(201);
    const s = await h.req('POST', '/api/sessions', { projectId: p.body.id, taskIds: [t.body.id] });
    expect(s.status).toBe(201);
    expect(s.body.timeline).toHaveLength(2);
    const t2 = await h.req('GET', `/api/tasks/${t.body.id}`);
    expect(t2.body.sessionIds).toEqual([s.body.id]);
    const list = await h.req('GET', `/api/v1/tasks?projectId=${p.body.id}`);
    expect(list.body).toHaveLength(1);
    const ev = await h.events(p.body.id);
    expect(ev.map((e) => e.type)).toEqual(['project:created', 'task:created', 'session:created', 'task:session_added']);
  });
});
