/**
 * An edge: one producer port → one consumer input, owning a bounded queue with a policy.
 * There is no unbounded buffer anywhere: `latest` holds 1, `drop_oldest`/`drop_newest` hold N
 * and drop by their rule, `block` holds N and makes the producer wait (its `push` returns a
 * promise that settles once the packet is in the queue).
 *
 * Accounting invariant, checked by tests: offered = delivered + dropped + depth + waiting.
 */
import type { Packet, QueuePolicy } from '../contract.js';

export type DropReason = 'evicted' | 'rejected' | 'shutdown' | 'removed';

export class Edge {
  readonly capacity: number;
  private readonly ring: (Packet | undefined)[];
  private head = 0;
  private count = 0;
  private waiters: { packet: Packet; resolve: () => void }[] = [];
  offered = 0;
  delivered = 0;
  maxDepth = 0;
  readonly drops: Record<DropReason, number> = { evicted: 0, rejected: 0, shutdown: 0, removed: 0 };
  /** Called when a packet becomes available; the consumer's scheduler sets it. */
  onReady: () => void = () => {};
  /** Called when a drop happens (for metrics and logs); set by the runtime. */
  onDrop: (reason: DropReason, n: number) => void = () => {};
  /** Called with each packet that leaves the queue without reaching the consumer. */
  onDiscard: (p: Packet) => void = () => {};

  constructor(
    readonly id: string,
    readonly from: { node: string; port: string },
    readonly to: { node: string; port: string },
    readonly policy: QueuePolicy,
  ) {
    this.capacity = policy.mode === 'latest' ? 1 : policy.size;
    this.ring = new Array(this.capacity);
  }

  get depth(): number {
    return this.count;
  }
  get waiting(): number {
    return this.waiters.length;
  }
  get dropped(): number {
    const d = this.drops;
    return d.evicted + d.rejected + d.shutdown + d.removed;
  }

  /** Offer a packet. Returns a promise only when a `block` queue is full. */
  push(packet: Packet): void | Promise<void> {
    this.offered++;
    if (this.count < this.capacity) {
      this.enqueue(packet);
      this.onReady();
      return;
    }
    switch (this.policy.mode) {
      case 'latest':
      case 'drop_oldest':
        this.onDiscard(this.ring[this.head]!);
        this.ring[this.head] = undefined;
        this.head = (this.head + 1) % this.capacity;
        this.count--;
        this.drop('evicted', 1);
        this.enqueue(packet);
        this.onReady();
        return;
      case 'drop_newest':
        this.drop('rejected', 1);
        this.onDiscard(packet);
        return;
      case 'block':
        return new Promise<void>((resolve) => this.waiters.push({ packet, resolve }));
    }
  }

  /** Take the oldest packet for the consumer. */
  shift(): Packet | undefined {
    if (this.count === 0) return undefined;
    const p = this.ring[this.head];
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    this.delivered++;
    if (this.waiters.length > 0) {
      const w = this.waiters.shift()!;
      this.enqueue(w.packet);
      w.resolve();
    }
    return p;
  }

  /** Empty the queue (shutdown, removal), counting what is lost; releases blocked producers. */
  clear(reason: DropReason): number {
    const n = this.count + this.waiters.length;
    for (let i = 0; i < this.capacity; i++) {
      const p = this.ring[i];
      if (p) this.onDiscard(p);
      this.ring[i] = undefined;
    }
    this.head = 0;
    this.count = 0;
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) { this.onDiscard(x.packet); x.resolve(); }
    if (n > 0) this.drop(reason, n);
    return n;
  }

  private enqueue(p: Packet): void {
    this.ring[(this.head + this.count) % this.capacity] = p;
    this.count++;
    if (this.count > this.maxDepth) this.maxDepth = this.count;
  }

  private drop(reason: DropReason, n: number): void {
    this.drops[reason] += n;
    this.onDrop(reason, n);
  }
}
