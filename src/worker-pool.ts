/**
 * A pool of worker threads for blocking work (onnxruntime's `session.run` holds its thread for
 * the whole inference). The main thread only posts messages.
 *
 * `depth` jobs at most are posted to one worker at once (default 1). With 2, the next job is
 * already in the worker's inbox when it finishes one, so it never waits for the main thread
 * between jobs (a result message, the main thread's turn, a new post); the worker answers them
 * one at a time, in order (worker.ts).
 *
 * Frames cross without copies: a Buffer backed by a SharedArrayBuffer (see frames.ts) is shared
 * with the worker, not cloned; an ArrayBuffer listed in `transfer` is moved.
 * The pool queues at most `maxQueue` jobs beyond the busy workers; past that `run` rejects with
 * PoolFullError, so a caller can never build an unbounded backlog (nodes size their
 * `concurrency` to the worker count and never hit it).
 * A worker that dies fails its job and is replaced.
 */
import { Worker, type Transferable } from 'node:worker_threads';

export class PoolFullError extends Error {}

export interface WorkerPoolOptions {
  size: number;
  /** Passed to every worker (e.g. the model path, threads). */
  workerData?: unknown;
  maxQueue?: number;
  /** Jobs posted to one worker at once (1: one at a time; 2: the next one waits in its inbox). */
  depth?: number;
  name?: string;
}

interface Job { msg: unknown; transfer?: readonly Transferable[]; resolve: (v: any) => void; reject: (e: unknown) => void }
interface Slot { worker: Worker; jobs: Job[]; ready: boolean }

export class WorkerPool<Req = unknown, Res = unknown> {
  private slots: Slot[] = [];
  private queue: Job[] = [];
  private stopped = false;
  private readonly maxQueue: number;
  private readonly depth: number;

  constructor(private readonly entry: URL, private readonly opts: WorkerPoolOptions) {
    this.maxQueue = opts.maxQueue ?? opts.size * 2;
    this.depth = Math.max(1, opts.depth ?? 1);
  }

  /** Start the workers; resolves when each has finished its own initialisation. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.opts.size }, () => this.spawn()));
  }

  get busy(): number {
    return this.slots.filter((s) => s.jobs.length > 0).length;
  }

  private spawn(): Promise<Slot> {
    const ts = this.entry.pathname.endsWith('.ts');
    const target = ts ? new URL('./worker-boot.mjs', import.meta.url) : this.entry;
    const worker = new Worker(target, {
      name: this.opts.name,
      workerData: { ...(this.opts.workerData as object | undefined), __graphrunEntry: this.entry.href },
    });
    const slot: Slot = { worker, jobs: [], ready: false };
    this.slots.push(slot);
    return new Promise<Slot>((resolve, reject) => {
      worker.on('message', (m: { type: string; result?: unknown; error?: string }) => {
        if (m.type === 'ready') {
          slot.ready = true;
          resolve(slot);
          this.dispatch();
          return;
        }
        const job = slot.jobs.shift(); // answers come in the order the jobs were posted
        if (job) {
          if (m.type === 'result') job.resolve(m.result);
          else job.reject(new Error(m.error ?? 'worker failed'));
        }
        this.dispatch();
      });
      worker.on('error', (err) => {
        if (!slot.ready) reject(err);
        for (const j of slot.jobs.splice(0)) j.reject(err);
      });
      worker.on('exit', (code) => {
        this.slots = this.slots.filter((s) => s !== slot);
        for (const j of slot.jobs.splice(0)) j.reject(new Error(`worker exited with code ${code}`));
        if (!slot.ready) reject(new Error(`worker exited with code ${code} while starting`));
        if (!this.stopped && slot.ready) void this.spawn().catch(() => undefined);
      });
    });
  }

  run(msg: Req, transfer?: readonly Transferable[]): Promise<Res> {
    if (this.stopped) return Promise.reject(new Error('worker pool stopped'));
    if (this.queue.length >= this.maxQueue) return Promise.reject(new PoolFullError(`worker pool full (${this.queue.length} queued)`));
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ msg, transfer, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      // The least loaded ready worker: an idle one before one with a job in its inbox.
      let slot: Slot | undefined;
      for (const s of this.slots) if (s.ready && s.jobs.length < this.depth && (!slot || s.jobs.length < slot.jobs.length)) slot = s;
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.jobs.push(job);
      slot.worker.postMessage({ type: 'job', msg: job.msg }, job.transfer as Transferable[] | undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const j of this.queue) j.reject(new Error('worker pool stopped'));
    this.queue = [];
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots = [];
  }
}
