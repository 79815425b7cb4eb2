/**
 * The status server: `/` (the live page), `/ws` (a full StatusSnapshot on connect, then one
 * every `intervalMs`), `/status.json`, `/metrics` (Prometheus text), `/healthz` and `/readyz`;
 * `/events` (recent events of the graph's local-store nodes), `/api/events?limit=&stream=`
 * (the same as JSON) and `/api/events/<event_id>.jpg` (a stored snapshot).
 * With a token, every route but /healthz requires it (`Authorization: Bearer`, `X-Graphrun-Token`
 * or `?token=`). Listening beyond loopback without a token is refused.
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { interval, Subscription } from 'rxjs';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { eventStoreOf, type EventStoreView, type StoredEvent } from '../events/stores.js';
import { isLoopback } from '../graph/compile.js';
import { redactDeep } from '../redact.js';
import type { Runtime } from '../runtime/runtime.js';
import { EVENTS_PAGE } from './events-page.js';

export interface StatusServerOptions {
  host: string;
  port: number;
  token: string;
  log: Logger;
  intervalMs?: number;
}

const PAGE_URL = new URL('../../../src/status/page.html', import.meta.url);
const PAGE_URL_SRC = new URL('./page.html', import.meta.url);

function loadPage(): string {
  for (const u of [PAGE_URL_SRC, PAGE_URL]) {
    try { return readFileSync(u, 'utf8'); } catch { /* try the next */ }
  }
  return '<!doctype html><title>graphrun</title><p>status page missing from this install</p>';
}

export class StatusServer {
  private server: http.Server | undefined;
  private wss: WebSocketServer | undefined;
  private ticker: Subscription | undefined;
  private readonly page = loadPage();
  url = '';

  constructor(private readonly runtime: () => Runtime, private readonly opts: StatusServerOptions) {}

  async start(): Promise<string> {
    const { host, port, token, log } = this.opts;
    if (!isLoopback(host) && !token) throw new Error(`refusing to serve status on ${host}:${port} without a token (set status.token)`);
    const server = http.createServer((req, res) => void this.handle(req, res));
    const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
    server.on('upgrade', (req, socket, head) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname !== '/ws' || !this.authorized(req, u)) {
        socket.end(`HTTP/1.1 ${u.pathname !== '/ws' ? '404 Not Found' : '401 Unauthorized'}\r\nConnection: close\r\n\r\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
    this.server = server;
    this.wss = wss;
    const addr = server.address();
    const actualPort = typeof addr === 'object' && addr ? addr.port : port;
    const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
    this.url = `http://${shownHost}:${actualPort}/`;
    this.ticker = interval(this.opts.intervalMs ?? 500).subscribe(() => this.tick());
    log.info({ url: this.url, auth: token ? 'token required' : 'none (loopback only)' }, 'status page');
    return this.url;
  }

  private tick(): void {
    const rt = this.runtime();
    rt.sample();
    if (!this.wss || this.wss.clients.size === 0) return;
    const msg = JSON.stringify(redactDeep(rt.snapshot()));
    for (const c of this.wss.clients) if (c.readyState === c.OPEN && c.bufferedAmount < 1 << 20) c.send(msg);
  }

  private onSocket(ws: WebSocket): void {
    ws.send(JSON.stringify(redactDeep(this.runtime().snapshot())));
    ws.on('error', () => ws.terminate());
  }

  private authorized(req: http.IncomingMessage, u: URL): boolean {
    const token = this.opts.token;
    if (!token) return true;
    const auth = req.headers.authorization;
    const bearer = auth ? /^bearer +(.*)$/i.exec(auth)?.[1] : undefined; // the scheme is case-insensitive (RFC 7235)
    const given = bearer ?? (req.headers['x-graphrun-token'] as string | undefined) ?? u.searchParams.get('token') ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(body);
    };
    try {
      if (u.pathname === '/healthz') return send(200, 'text/plain', 'ok\n');
      if (!this.authorized(req, u)) {
        res.setHeader('www-authenticate', 'Bearer realm="graphrun"');
        return send(401, 'text/plain', 'unauthorized: this status server needs its token (Authorization: Bearer …, or ?token=…)\n');
      }
      const rt = this.runtime();
      switch (u.pathname) {
        case '/':
        case '/index.html':
          return send(200, 'text/html; charset=utf-8', this.page);
        case '/status.json':
          return send(200, 'application/json', JSON.stringify(redactDeep(rt.snapshot())));
        case '/metrics':
          return send(200, rt.metrics.contentType, await rt.metrics.text());
        case '/readyz': {
          const r = rt.readiness();
          return send(r.ready ? 200 : 503, 'application/json', JSON.stringify(redactDeep(r)));
        }
        case '/events':
          return send(200, 'text/html; charset=utf-8', EVENTS_PAGE);
        case '/api/events':
          return this.listEvents(rt, u, send);
        default: {
          const m = /^\/api\/events\/([0-9A-Za-z-]{1,64})\.jpg$/.exec(u.pathname);
          if (m) return await this.sendSnapshot(rt, m[1], res, send);
          return send(404, 'text/plain', 'not found\n');
        }
      }
    } catch (err) {
      this.opts.log.error({ err }, 'status request failed');
      if (!res.headersSent) send(500, 'text/plain', 'internal error\n');
    }
  }

  /** The event stores (local-store nodes) of this server's graph, in graph order. */
  private eventStores(rt: Runtime): EventStoreView[] {
    const out: EventStoreView[] = [];
    for (const r of rt.runners.values()) {
      const v = eventStoreOf(r.instance);
      if (v) out.push(v);
    }
    return out;
  }

  private listEvents(rt: Runtime, u: URL, send: (code: number, type: string, body: string) => void): void {
    const limitText = u.searchParams.get('limit');
    const limit = limitText === null || limitText === '' ? 50 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) return send(400, 'text/plain', 'limit: an integer from 1 to 500\n');
    const stream = u.searchParams.get('stream') || undefined;
    const stores = this.eventStores(rt);
    const all: (StoredEvent & { node: string })[] = [];
    for (const s of stores) for (const e of s.recent({ limit, stream })) all.push({ ...e, node: s.nodeId });
    all.sort((a, b) => b.stored_at - a.stored_at || b.seq - a.seq);
    const events = all.slice(0, limit).map((e) => ({
      node: e.node,
      stored_at: new Date(e.stored_at).toISOString(),
      snapshot_url: e.has_snapshot ? `/api/events/${encodeURIComponent(e.event.event_id)}.jpg` : null,
      event: e.event,
    }));
    send(200, 'application/json', JSON.stringify({ stores: stores.map((s) => s.nodeId), events }));
  }

  /** The file is found by event id in a store's database, never from a path in the request. */
  private async sendSnapshot(rt: Runtime, eventId: string, res: http.ServerResponse, send: (code: number, type: string, body: string) => void): Promise<void> {
    for (const s of this.eventStores(rt)) {
      const file = s.snapshotFile(eventId);
      if (!file) continue;
      let fh;
      try {
        fh = await open(file, 'r');
      } catch {
        continue; // removed by retention a moment ago, or by hand
      }
      try {
        const st = await fh.stat();
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': st.size, 'cache-control': 'private, max-age=86400', 'x-content-type-options': 'nosniff' });
        const stream = fh.createReadStream();
        await new Promise<void>((resolve) => {
          stream.on('error', () => { res.destroy(); resolve(); });
          res.on('close', resolve);
          stream.pipe(res);
        });
      } finally {
        await fh.close().catch(() => undefined);
      }
      return;
    }
    send(404, 'text/plain', 'no snapshot stored for this event\n');
  }

  async stop(): Promise<void> {
    this.ticker?.unsubscribe();
    for (const c of this.wss?.clients ?? []) c.terminate();
    this.wss?.close();
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
