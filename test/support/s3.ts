/**
 * A real S3-speaking server for tests: s3rver (https://github.com/jamhall/s3rver) in this
 * process, on a free loopback port, storing into its own temporary folder, with one bucket.
 *
 *   const s3 = await startS3({ bucket: 'snaps' });
 *   const undo = s3.useCredentials();          // AWS_ACCESS_KEY_ID=S3RVER … for the SDK's default chain
 *   // s3-sink options: bucket: snaps, endpoint: s3.endpoint, force_path_style: true
 *   await s3.stop();                            // an outage: connections refused, open ones cut
 *   await s3.restart();                         // back on the same port, same objects
 *   const objs = await s3.list('garden/');     // every key (no delimiter), paginated
 *   const o = await s3.get(objs[0].key);       // bytes, content type, metadata
 *   await s3.close(); undo();
 *
 * s3rver's listing with a Delimiter is wrong for keys two or more levels deep, so `list` never
 * sends one; look objects up by key where the key is known.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

/** The part of s3rver's API used here (it ships no types). */
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  on(event: 'event', fn: (e: { Records: { eventName: string; eventTime: string; s3: { bucket: { name: string }; object: { key: string; size: number } } }[] }) => void): void;
  httpServer?: Server;
}
type S3rverCtor = new (o: {
  address: string; port: number; silent: boolean; directory: string;
  configureBuckets: { name: string }[]; vhostBuckets?: boolean;
}) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

/** s3rver's one account (it checks signatures made with it). */
export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

export interface S3Object { key: string; size: number; lastModified: Date }
export interface S3Stored { body: Buffer; contentType: string | undefined; metadata: Record<string, string>; lastModified: Date | undefined }

export interface TestS3 {
  /** http://127.0.0.1:PORT — the sink's `endpoint` (with force_path_style: true). */
  endpoint: string;
  port: number;
  bucket: string;
  /** Where s3rver keeps the objects (kept across stop/restart). */
  directory: string;
  /** A client for the test's own reads (s3rver's credentials). */
  client: S3Client;
  /** Sets the SDK's environment credentials (and turns off the EC2 metadata lookup); returns the undo. */
  useCredentials(): () => void;
  /** Object keys → when this process saw s3rver store them (ms since the epoch, from s3rver's ObjectCreated events). */
  readonly stored: ReadonlyMap<string, number>;
  /** Every object (optionally under a prefix), without a delimiter, all pages. */
  list(prefix?: string): Promise<S3Object[]>;
  /** The object, or undefined when there is none. */
  get(key: string): Promise<S3Stored | undefined>;
  /** Whether the object exists (an anonymous HEAD on the path-style URL: no SDK, no retries). */
  exists(key: string): Promise<boolean>;
  /** An outage: stop listening and cut the open connections; the folder stays. */
  stop(): Promise<void>;
  /** Back on the same port and folder (stops it first if running). */
  restart(): Promise<void>;
  running(): boolean;
  /** stop(), then remove the folder. */
  close(): Promise<void>;
}

export async function startS3(opts: { bucket?: string; port?: number } = {}): Promise<TestS3> {
  const bucket = opts.bucket ?? 'graphrun-test';
  const directory = mkdtempSync(path.join(tmpdir(), 'graphrun-s3-'));
  const stored = new Map<string, number>();
  let server: S3rverInstance | undefined;
  let port = opts.port ?? 0;

  const launch = async (): Promise<void> => {
    const s = new S3rver({ address: '127.0.0.1', port, silent: true, directory, configureBuckets: [{ name: bucket }], vhostBuckets: false });
    s.on('event', (e) => {
      for (const r of e.Records) {
        if (r.eventName.startsWith('ObjectCreated') && r.s3.bucket.name === bucket) stored.set(r.s3.object.key, Date.now());
      }
    });
    const addr = await s.run();
    port = addr.port;
    server = s;
  };
  const halt = async (): Promise<void> => {
    const s = server;
    if (!s) return;
    server = undefined;
    const closed = s.close();
    // close() waits for keep-alive connections; a dead server cuts them.
    s.httpServer?.closeAllConnections();
    await closed;
  };

  try {
    await launch();
  } catch (err) {
    rmSync(directory, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    region: 'us-east-1', endpoint, forcePathStyle: true, maxAttempts: 1,
    credentials: { accessKeyId: S3RVER_CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: S3RVER_CREDENTIALS.AWS_SECRET_ACCESS_KEY },
  });
  const objectUrl = (key: string) => `${endpoint}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;

  return {
    endpoint, port, bucket, directory, client, stored,
    useCredentials() {
      const keys = [...Object.keys(S3RVER_CREDENTIALS), 'AWS_EC2_METADATA_DISABLED'];
      const before = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
      Object.assign(process.env, S3RVER_CREDENTIALS, { AWS_EC2_METADATA_DISABLED: 'true' });
      return () => {
        for (const k of keys) {
          if (before[k] === undefined) delete process.env[k];
          else process.env[k] = before[k];
        }
      };
    },
    async list(prefix) {
      const out: S3Object[] = [];
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: 1000 }));
        for (const c of r.Contents ?? []) out.push({ key: c.Key!, size: c.Size ?? 0, lastModified: c.LastModified! });
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async get(key) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return { body: Buffer.from(await r.Body!.transformToByteArray()), contentType: r.ContentType, metadata: r.Metadata ?? {}, lastModified: r.LastModified };
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
        throw err;
      }
    },
    async exists(key) {
      const r = await fetch(objectUrl(key), { method: 'HEAD' });
      if (r.status === 200) return true;
      if (r.status === 404) return false;
      throw new Error(`HEAD ${key}: HTTP ${r.status}`);
    },
    stop: halt,
    async restart() {
      await halt();
      await launch();
    },
    running: () => server !== undefined,
    async close() {
      await halt();
      client.destroy();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
