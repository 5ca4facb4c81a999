import { WebSocket } from 'ws';

/** A real WebSocket client that records every message (parsed JSON) and its close code. */
export interface RecordingClient {
  ws: WebSocket;
  messages: any[];
  closeCode?: number;
  /** The close frame's reason text, once closed. */
  closeReason?: string;
  /** Resolves when `pred` holds over the messages received so far (polls; rejects after `timeoutMs`). */
  until(pred: (messages: any[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Events only (messages that carry `event`). */
  events(): any[];
  close(): Promise<void>;
}

/** Opens `url` (with optional upgrade headers) and resolves once connected. */
export function connect(url: string, headers: Record<string, string> = {}): Promise<RecordingClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const client: RecordingClient = {
      ws,
      messages: [],
      async until(pred, timeoutMs = 10_000) {
        const deadline = Date.now() + timeoutMs;
        while (!pred(client.messages)) {
          if (Date.now() > deadline) throw new Error(`timed out; got ${client.messages.length} messages`);
          await new Promise((r) => setTimeout(r, 10));
        }
      },
      events: () => client.messages.filter((m) => m.event),
      close: () =>
        new Promise((res) => {
          if (ws.readyState === WebSocket.CLOSED) return res();
          ws.once('close', () => res());
          ws.close();
        }),
    };
    ws.on('message', (data) => {
      try {
        client.messages.push(JSON.parse(String(data)));
      } catch {
        client.messages.push(String(data));
      }
    });
    ws.on('close', (code, reason) => {
      client.closeReason = String(reason);
      client.closeCode = code;
    });
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
  });
}

/**
 * A pool of recording clients a test file opens and closes together: `open(url)` connects and
 * remembers, `closeAll()` (afterAll) closes every one still open.
 */
export function clientPool(): { open(url: string, headers?: Record<string, string>): Promise<RecordingClient>; closeAll(): Promise<void> } {
  const clients: RecordingClient[] = [];
  return {
    open: async (url, headers = {}) => {
      const c = await connect(url, headers);
      clients.push(c);
      return c;
    },
    closeAll: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    },
  };
}
