/**
 * Tiny ONNX models written byte by byte (protobuf), for tests that need a model of the wrong
 * kind without committing one: e.g. an image classifier where a detector is expected.
 */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}
const int = (no: number, v: number) => Buffer.from([...varint(no << 3), ...varint(v)]);
const bytes = (no: number, b: Buffer) => Buffer.concat([Buffer.from([...varint((no << 3) | 2), ...varint(b.length)]), b]);
const str = (no: number, s: string) => bytes(no, Buffer.from(s));
const msg = (no: number, ...parts: Buffer[]) => bytes(no, Buffer.concat(parts));

/** ValueInfoProto of a float tensor (TypeProto.tensor_type: elem_type 1 = FLOAT, shape dims). */
const tensor = (no: number, name: string, dims: number[]) =>
  msg(no, str(1, name), msg(2, msg(1, int(1, 1), msg(2, ...dims.map((d) => msg(1, int(1, d)))))));

/**
 * An "image classifier": `images` [1,3,H,W] → GlobalAveragePool → Flatten → `logits` [1,3]
 * (rank 2, where a YOLO detector has rank 3). Opset 13, IR version 8.
 */
export function tinyClassifierOnnx(height = 224, width = 224): Buffer {
  const node = (input: string, output: string, op: string) => msg(1, str(1, input), str(2, output), str(4, op));
  const graph = msg(7,
    node('images', 'pooled', 'GlobalAveragePool'),
    node('pooled', 'logits', 'Flatten'),
    str(2, 'tiny-classifier'),
    tensor(11, 'images', [1, 3, height, width]),
    tensor(12, 'logits', [1, 3]));
  return Buffer.concat([int(1, 8), str(2, 'graphrun-test'), graph, msg(8, str(1, ''), int(2, 13))]);
}
