/**
 * The graph pieces the clip tests share (YAML under `nodes:`): a clip played as fast as the
 * graph goes, every frame once (block edges), YOLOX-Nano at score 0.1 (people on the floor
 * score low, and ByteTrack's second association needs the low ones), and the test pose model.
 * One thread each: vitest runs two files at once on two cores.
 */
import { modelPath } from './media.js';

/** `clip` (file-source) and `detect` (yolo) nodes; `classes` limits the detector. */
export function clipDetectNodes(clipPath: string, o: { classes?: string[] } = {}): string {
  return `  clip: { type: file-source, path: ${clipPath}, realtime: false }
  detect:
    type: yolo
    model: ${modelPath('yolox_nano.onnx')}${o.classes ? `\n    classes: [${o.classes.join(', ')}]` : ''}
    score_threshold: 0.1
    threads: 1
    inputs: { frames: { from: clip.frames, queue: { block: 2 } } }
`;
}

/** A `pose` (rtmpose) node reading `from` (a detections port). */
export function poseNode(from: string): string {
  return `  pose:
    type: rtmpose
    model: ${modelPath('ultralight_nano_simplepose_256x192.onnx')}
    threads: 1
    min_box_score: 0.1
    max_persons_per_frame: 8
    inputs: { detections: { from: ${from}, queue: { block: 2 } } }
`;
}
