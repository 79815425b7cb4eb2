/**
 * The hook between event stores running in a graph and the status server's events page.
 *
 * A store node (local-store) registers a read-only view of itself under its own NodeInstance
 * when it starts and unregisters when it stops. The status server walks the runners of ITS
 * runtime and asks for the view of each one's current instance, so it only ever lists the
 * stores of its own graph, even with several graphs in one process (tests), and a restarted
 * node is found under its new instance.
 *
 *   registerEventStore(instance, view);      // local-store, in start()
 *   unregisterEventStore(instance);          // local-store, in stop()
 *   eventStoreOf(runner.instance);           // status server
 */
import type { NodeInstance } from '../contract.js';
import type { GraphrunEvent } from './event.js';

/** One stored event as the events page and `/api/events` show it. */
export interface StoredEvent {
  /** Insertion order within its store. */
  seq: number;
  /** Wall-clock ms when the store wrote it (retention counts from here). */
  stored_at: number;
  /** The event JSON as stored (with `snapshot.key` when its JPEG was stored). */
  event: GraphrunEvent;
  /** Whether a snapshot file is stored for it. */
  has_snapshot: boolean;
}

export interface EventStoreView {
  /** Id of the store node. */
  readonly nodeId: string;
  /** Most recently stored first. */
  recent(query: { limit: number; stream?: string }): StoredEvent[];
  /**
   * Absolute path of the stored snapshot of an event, looked up by event id in the store's
   * database (never built from the caller's input); undefined when there is none.
   */
  snapshotFile(eventId: string): string | undefined;
}

const views = new WeakMap<NodeInstance, EventStoreView>();

export function registerEventStore(instance: NodeInstance, view: EventStoreView): void {
  views.set(instance, view);
}

export function unregisterEventStore(instance: NodeInstance): void {
  views.delete(instance);
}

export function eventStoreOf(instance: NodeInstance | undefined): EventStoreView | undefined {
  return instance ? views.get(instance) : undefined;
}
