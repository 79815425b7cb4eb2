/**
 * A running graph file: runtime + status server + hot reload. The CLI and the tests both use
 * this; nothing here calls process.exit.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { Subject, debounceTime } from 'rxjs';
import type { Logger } from 'pino';
import { loadAndCompile, type CompiledGraph } from './graph/compile.js';
import { formatDiagnostic, type Diagnostic } from './graph/diagnostics.js';
import type { Registry } from './registry.js';
import { Runtime } from './runtime/runtime.js';
import { StatusServer } from './status/server.js';
import type { Clock } from './contract.js';

export interface AppOptions {
  registry: Registry;
  log: Logger;
  /** Reload when the file (or what it extends) changes. */
  watch?: boolean;
  env?: Record<string, string | undefined>;
  clock?: Clock;
  /** Override status.listen (tests use port 0). */
  listen?: { host: string; port: number };
  statusIntervalMs?: number;
  /** Readiness: start-up grace and how long a live source may be silent (defaults 30 s, 10 s). */
  ready?: { graceMs?: number; staleMs?: number };
}

export class InvalidGraphError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(`invalid graph:\n${diagnostics.map(formatDiagnostic).join('\n')}`);
  }
}

export class App {
  runtime!: Runtime;
  server: StatusServer | undefined;
  statusUrl = '';
  private watchers: FSWatcher[] = [];
  private readonly changes = new Subject<void>();
  private reloading: Promise<unknown> = Promise.resolve();

  private constructor(readonly file: string, private readonly opts: AppOptions) {}

  /** Load, validate, start. Rejects with InvalidGraphError when the graph has errors. */
  static async start(file: string, opts: AppOptions): Promise<App> {
    const app = new App(file, opts);
    const graph = app.compile();
    if ('diagnostics' in graph) throw new InvalidGraphError(graph.diagnostics);
    app.runtime = new Runtime(graph, { log: opts.log, clock: opts.clock, readyGraceMs: opts.ready?.graceMs, readyStaleMs: opts.ready?.staleMs });
    const st = graph.status;
    if (st.enabled) {
      const listen = opts.listen ?? { host: st.host, port: st.port };
      app.server = new StatusServer(() => app.runtime, { ...listen, token: st.token, log: opts.log, intervalMs: opts.statusIntervalMs });
      app.statusUrl = await app.server.start();
    }
    await app.runtime.start();
    if (opts.watch) {
      app.changes.pipe(debounceTime(150)).subscribe(() => void app.reload());
      app.watchFiles(graph.files);
    }
    return app;
  }

  private compile(): CompiledGraph | { diagnostics: Diagnostic[] } {
    const r = loadAndCompile(this.file, this.opts.registry, { env: this.opts.env });
    for (const d of r.diagnostics) if (d.severity === 'warning') this.opts.log.warn(formatDiagnostic(d));
    return r.graph ?? { diagnostics: r.diagnostics };
  }

  /** Re-read the file; apply it when valid, otherwise keep running and show why. */
  reload(): Promise<{ ok: boolean; changed?: string[]; added?: string[]; removed?: string[]; diagnostics?: Diagnostic[] }> {
    const next = this.reloading.then(async () => {
      const g = this.compile();
      if ('diagnostics' in g) {
        this.runtime.diagnostics = g.diagnostics;
        this.opts.log.error({ diagnostics: g.diagnostics.map(formatDiagnostic) }, 'graph file has errors: keeping the running graph');
        return { ok: false, diagnostics: g.diagnostics };
      }
      const r = await this.runtime.reload(g);
      if (this.opts.watch) this.watchFiles(g.files);
      return { ok: true, ...r };
    });
    this.reloading = next.catch(() => undefined);
    return next;
  }

  /** Watch the directories (editors replace files by rename, which a file watch misses). */
  private watchFiles(files: string[]): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const d = path.dirname(f);
      if (!byDir.has(d)) byDir.set(d, new Set());
      byDir.get(d)!.add(path.basename(f));
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, (_ev, name) => { if (name && names.has(name.toString())) this.changes.next(); });
        w.on('error', () => undefined);
        this.watchers.push(w);
      } catch (err) {
        this.opts.log.warn({ err, dir }, 'cannot watch directory');
      }
    }
  }

  private stopping: Promise<void> | undefined;

  /** Stop everything; safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const w of this.watchers) w.close();
      this.changes.complete();
      await this.reloading;
      await this.runtime.stop();
      await this.server?.stop();
    })();
    return this.stopping;
  }
}
