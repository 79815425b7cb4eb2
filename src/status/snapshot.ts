/**
 * The shape of what the status server sends: a full `StatusSnapshot` on connect and then at
 * every tick (at least twice a second). The page, the WebSocket and `/status.json` all use it,
 * so it is the one contract between the runtime and anything that watches it.
 * Nothing in here may carry a secret: strings that come from configuration pass through
 * `redactSecrets` before they are put in a snapshot.
 */
export type NodeState = 'starting' | 'running' | 'degraded' | 'error' | 'stopped';

export interface EdgeSnapshot {
  /** Stable id, `producer.port->consumer.port`. */
  id: string;
  from: { node: string; port: string };
  to: { node: string; port: string };
  /** Queue policy as written in the graph: `latest`, `drop_oldest: 8`, `block: 16`, ... */
  policy: string;
  capacity: number;
  depth: number;
  /** Highest depth seen since start (never above capacity). */
  maxDepth: number;
  delivered: number;
  /** Drops by reason (`evicted`, `rejected`, `shutdown`, `removed`). */
  drops: Record<string, number>;
}

export interface NodeSnapshot {
  id: string;
  type: string;
  /** Is this a source (no inputs, produces packets by itself)? */
  source: boolean;
  state: NodeState;
  text: string;
  packetsIn: number;
  packetsOut: number;
  /** Packets per second over the last few seconds. */
  inRate: number;
  outRate: number;
  /** Processing time per packet in ms over a recent window; null until a packet was processed. */
  p50Ms: number | null;
  p95Ms: number | null;
  inFlight: number;
  concurrency: number;
  errors: number;
  restarts: number;
  lastError: string | null;
  /** Sum of drops over this node's input edges. */
  drops: number;
  inputs: { port: string; edges: string[] }[];
  outputs: string[];
}

export interface Diagnostic {
  severity: 'error' | 'warning';
  file: string;
  line: number;
  col: number;
  /** Dotted path in the graph document, `nodes.detect.inputs.frames`. */
  path: string;
  message: string;
}

export interface StatusSnapshot {
  graph: { name: string; file: string; startedAt: string; reloads: number };
  /** Milliseconds since epoch when this snapshot was taken. */
  time: number;
  /** Diagnostics of the last rejected reload (empty when the running graph is the file on disk). */
  diagnostics: Diagnostic[];
  nodes: NodeSnapshot[];
  edges: EdgeSnapshot[];
}
