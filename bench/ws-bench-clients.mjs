// Worker thread of the WebSocket bench: opens its share of the clients and records, per task id,
// the absolute receive times (ms since epoch, sub-ms precision) of the `task:created` events.
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocket } from 'ws';

const { urls } = workerData;
const received = new Map();
let delivered = 0;
const sockets = [];
const now = () => performance.timeOrigin + performance.now();

for (const url of urls) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.on('message', (data) => {
    const t = now();
    const text = data.toString();
    const at = text.indexOf('"data":{"id":"');
    if (at < 0) return;
    const id = text.slice(at + 14, text.indexOf('"', at + 14));
    delivered++;
    let arr = received.get(id);
    if (!arr) received.set(id, (arr = []));
    arr.push(t);
  });
  sockets.push(ws);
}
parentPort.postMessage({ type: 'connected' });
parentPort.on('message', (msg) => {
  if (msg === 'report') {
    for (const ws of sockets) ws.terminate();
    parentPort.postMessage({ type: 'report', delivered, received: [...received] });
  }
});
