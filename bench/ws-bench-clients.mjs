// Worker thread of the WebSocket bench: opens its share of the clients and records, per client group,
// the absolute receive times (ms since epoch, sub-ms precision) of `task:created` events (by task id)
// and of `session:timeline_added` events (by the entry's message, `a<n>`), and, for clients watching
// long sessions without deltas, how many whole `session:updated` they got and the last one's text.
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocket } from 'ws';

/** @type {{ urls: (string | { url: string, group: string })[] }} */
const urls = workerData.urls.map((u) => (typeof u === 'string' ? { url: u, group: 'all' } : u));
/** group → Map(key → receive times) */
const received = new Map();
/** group → events counted */
const delivered = new Map();
/** group → Map(`<client>#<sessionId>` → { count, last }) for whole session:updated events, per client */
const wholes = new Map();
const sockets = [];
const now = () => performance.timeOrigin + performance.now();
const TASK = '{"type":"task:created"';
const ADDED = '{"type":"session:timeline_added"';
const UPDATED = '{"type":"session:updated"';

function record(group, key, t) {
  let m = received.get(group);
  if (!m) received.set(group, (m = new Map()));
  let arr = m.get(key);
  if (!arr) m.set(key, (arr = []));
  arr.push(t);
  delivered.set(group, (delivered.get(group) ?? 0) + 1);
}

for (const [clientIndex, { url, group }] of urls.entries()) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.on('message', (data) => {
    const t = now();
    const text = data.toString();
    if (text.startsWith(TASK)) {
      const at = text.indexOf('"data":{"id":"');
      if (at >= 0) record(group, text.slice(at + 14, text.indexOf('"', at + 14)), t);
    } else if (text.startsWith(ADDED)) {
      const m = /"message":"(a\d+)"/.exec(text);
      if (m) record(group, m[1], t);
    } else if (text.startsWith(UPDATED) && text.includes('"timeline":[')) {
      const m = /"data":\{"id":"([^"]+)"/.exec(text);
      if (!m) return;
      let g = wholes.get(group);
      if (!g) wholes.set(group, (g = new Map()));
      const key = `${clientIndex}#${m[1]}`;
      const s = g.get(key) ?? { count: 0, last: '' };
      s.count++;
      s.last = text;
      g.set(key, s);
    }
  });
  sockets.push(ws);
}
parentPort.postMessage({ type: 'connected' });
parentPort.on('message', (msg) => {
  if (msg === 'report') {
    for (const ws of sockets) ws.terminate();
    parentPort.postMessage({
      type: 'report',
      delivered: [...delivered],
      received: [...received].map(([g, m]) => [g, [...m]]),
      wholes: [...wholes].map(([g, m]) => [g, [...m]]),
    });
  }
});
