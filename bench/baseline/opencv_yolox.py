#!/usr/bin/python3
"""What a user would write without graphrun: YOLOX-Nano on a video file with OpenCV alone.

cv2.VideoCapture decodes the clip, each frame is letterboxed the YOLOX way (416x416, BGR, no
normalisation, resized with INTER_LINEAR and padded with grey 114 at the right and bottom),
cv2.dnn runs the ONNX model, the raw grid output is decoded (centre = (offset + cell) x stride,
size = exp(log size) x stride, score = objectness x best class), and class-aware NMS
(cv2.dnn.NMSBoxes on boxes shifted apart per class) keeps the detections. The same job, model,
input size and thresholds as the pipeline bench's yolo node (score 0.1, IoU 0.45, 100 kept).

    /usr/bin/python3 bench/baseline/opencv_yolox.py --model yolox_nano.onnx --video clip.mp4 [--frames N]

Prints one JSON line: frames, seconds (first read to last detection, model loading not
counted), fps, detections (total kept), persons (kept with class 0), threads (OpenCV's).
Needs Debian's python3-opencv (apt-get install python3-opencv).
"""
import argparse
import json
import sys
import time

import cv2
import numpy as np

SIZE = 416
STRIDES = (8, 16, 32)


def grid_for(size):
    """Cell offsets and strides of the 3549 output rows, in the order the model emits them."""
    cells, strides = [], []
    for s in STRIDES:
        n = size // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.stack((xs, ys), axis=-1).reshape(-1, 2))
        strides.append(np.full((n * n, 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def letterbox(frame):
    """416x416 float32 blob [1, 3, H, W], BGR 0-255; returns the scale to map boxes back."""
    h, w = frame.shape[:2]
    r = min(SIZE / w, SIZE / h)
    nw, nh = round(w * r), round(h * r)
    canvas = np.full((SIZE, SIZE, 3), 114, dtype=np.uint8)
    canvas[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas.transpose(2, 0, 1)[None].astype(np.float32), r


def detect(net, frame, cells, strides, score_thr, iou_thr, max_det):
    blob, r = letterbox(frame)
    net.setInput(blob)
    out = net.forward()[0]  # [3549, 85]: x, y, log w, log h, objectness, 80 class scores
    cls = out[:, 5:].argmax(axis=1)
    scores = out[:, 4] * out[np.arange(len(out)), 5 + cls]
    keep = scores >= score_thr
    if not keep.any():
        return []
    out, cls, scores = out[keep], cls[keep], scores[keep]
    centre = (out[:, :2] + cells[keep]) * strides[keep]
    size = np.exp(out[:, 2:4]) * strides[keep]
    xywh = np.concatenate((centre - size / 2, size), axis=1) / r  # source pixels
    # Class-aware NMS with one call: boxes of different classes are moved apart so they never overlap.
    shifted = xywh.copy()
    shifted[:, :2] += cls[:, None] * 4096.0
    idx = cv2.dnn.NMSBoxes(shifted.tolist(), scores.tolist(), score_thr, iou_thr, top_k=max_det)
    idx = np.array(idx).reshape(-1)
    return [(int(cls[i]), float(scores[i]), xywh[i].tolist()) for i in idx]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="yolox_nano.onnx")
    ap.add_argument("--video", required=True, help="video file")
    ap.add_argument("--frames", type=int, default=0, help="stop after this many frames (0: the whole clip)")
    ap.add_argument("--score", type=float, default=0.1, help="lowest score kept")
    ap.add_argument("--iou", type=float, default=0.45, help="NMS IoU")
    ap.add_argument("--max-det", type=int, default=100, help="most detections per frame")
    a = ap.parse_args()

    net = cv2.dnn.readNetFromONNX(a.model)
    cap = cv2.VideoCapture(a.video)
    if not cap.isOpened():
        sys.exit(f"cannot open {a.video}")
    cells, strides = grid_for(SIZE)
    frames = detections = persons = 0
    t0 = time.perf_counter()
    while not a.frames or frames < a.frames:
        ok, frame = cap.read()
        if not ok:
            break
        found = detect(net, frame, cells, strides, a.score, a.iou, a.max_det)
        frames += 1
        detections += len(found)
        persons += sum(1 for c, _, _ in found if c == 0)
    seconds = time.perf_counter() - t0
    cap.release()
    print(json.dumps({
        "frames": frames, "seconds": seconds, "fps": frames / seconds if seconds > 0 else 0.0,
        "detections": detections, "persons": persons, "threads": cv2.getNumThreads(), "opencv": cv2.__version__,
    }))


if __name__ == "__main__":
    main()
