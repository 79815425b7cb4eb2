/**
 * Frame memory. Frame buffers live in SharedArrayBuffers so a worker thread (inference) reads
 * the very same bytes the decoder wrote: posting a Buffer backed by a SharedArrayBuffer to a
 * worker shares it, it does not copy it.
 */
import type { Frame } from './contract.js';

export function allocFrameBuffer(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes));
}

export function isShared(buf: Buffer): boolean {
  return buf.buffer instanceof SharedArrayBuffer;
}

export function bytesPerPixel(format: Frame['format']): number {
  return format === 'gray8' ? 1 : 3;
}
