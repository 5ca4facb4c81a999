import { beforeAll, describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();
let projectId: string;
const created: string[] = [];
beforeAll(async () => {
  projectId = (await h.req('POST', '/api/v1/projects', { name: 'big' })).body.id;
  // 2,500 tasks, created in 50 sequential batches of 50 concurrent requests
  for (let b = 0; b < 50; b++) {
    const batch = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        h.req('POST', '/api/v1/tasks', { projectId, title: `t${b * 50 + i}`, priority: i % 2 ? 'high' : 'low' }),
      ),
    );
    for (const r of batch) created.push(r.body.id);
  }
}, 120_000);

async function walk(path: string): Promise<{ ids: string[]; pages: number; total: string | null }> {
  const ids: string[] = [];
  let next: string | null = path;
  let pages = 0;
  let total: string | null = null;
  while (next) {
    const r = await h.req('GET', next);
    expect(r.status).toBe(200);
    total = r.headers.get('x-total-count');
    ids.push(...(r.body as { id: string }[]).map((t) => t.id));
    pages++;
    const link = r.headers.get('link');
    next = link ? /<([^>]+)>; rel="next"/.exec(link)![1]! : null;
    if (next) expect(r.headers.get('x-next-cursor')).toBeTruthy();
  }
  return { ids, pages, total };
}

describe('pagination across 2,500 tasks', () => {
  it('pages of 1,000 follow Link to the end: every task once, in creation order, with X-Total-Count', async () => {
    const { ids, pages, total } = await walk(`/api/v1/tasks?projectId=${projectId}&limit=1000`);
    expect(pages).toBe(3);
    expect(total).toBe('2500');
    expect(ids).toHaveLength(2500);
    expect(new Set(ids).size).toBe(2500);
    const all = await Promise.all(ids.map((id) => h.redis.hget(`${h.prefix}{${projectId}}:task:${id}`, 'createdAt')));
    const order = ids.map((id, i) => `${String(all[i]).padStart(15, '0')}:${id}`);
    expect([...order].sort()).toEqual(order);
    expect(new Set(ids)).toEqual(new Set(created));
  });

  it('default page is 100 and limit over 1000 is a 400 VALIDATION_ERROR', async () => {
    const r = await h.req('GET', `/api/v1/tasks?projectId=${projectId}`);
    expect(r.body).toHaveLength(100);
    const bad = await h.req('GET', `/api/v1/tasks?projectId=${projectId}&limit=1001`);
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('VALIDATION_ERROR');
    expect(bad.body.details[0].path).toBe('query.limit');
  });

  it('a page taken while tasks are being added neither repeats nor skips earlier tasks', async () => {
    const first = await h.req('GET', `/api/v1/tasks?projectId=${projectId}&limit=500`);
    await h.req('POST', '/api/v1/tasks', { projectId, title: 'late' });
    const second = await h.req('GET', `/api/v1/tasks?projectId=${projectId}&limit=500&cursor=${first.headers.get('x-next-cursor')}`);
    const ids = [...first.body, ...second.body].map((t: { id: string }) => t.id);
    const { ids: ordered } = await walk(`/api/v1/tasks?projectId=${projectId}&limit=1000`);
    expect(ids).toEqual(ordered.slice(0, 1000));
    expect(ordered[ordered.length - 1]).not.toBe(ids[ids.length - 1]);
  });

  it('a garbage cursor is a 400 VALIDATION_ERROR', async () => {
    const r = await h.req('GET', `/api/v1/tasks?projectId=${projectId}&cursor=%%%`);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('VALIDATION_ERROR');
  });

  it('lists across projects merge in creation order', async () => {
    const other = (await h.req('POST', '/api/v1/projects', { name: 'other' })).body.id;
    const a = (await h.req('POST', '/api/v1/tasks', { projectId: other, title: 'x1' })).body.id;
    const b = (await h.req('POST', '/api/v1/tasks', { projectId, title: 'x2' })).body.id;
    const c = (await h.req('POST', '/api/v1/tasks', { projectId: other, title: 'x3' })).body.id;
    const { ids, total } = await walk('/api/v1/tasks?limit=777');
    expect(total).toBe(String(2500 + 1 + 3));
    expect(ids.slice(-3)).toEqual([a, b, c]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('a status filter pages from its own index', async () => {
    const t = created[7]!;
    await h.req('PATCH', `/api/v1/tasks/${t}`, { status: 'blocked' });
    const r = await h.req('GET', `/api/v1/tasks?projectId=${projectId}&status=blocked`);
    expect(r.body.map((x: { id: string }) => x.id)).toEqual([t]);
    expect(r.headers.get('x-total-count')).toBe('1');
  });
});
