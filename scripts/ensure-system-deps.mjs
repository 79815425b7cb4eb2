#!/usr/bin/env node
// Makes sure the system programs a command needs are there before it runs, so a fresh machine
// gets one clear line (or an automatic install as root) instead of a wall of failing tests.
//   node scripts/ensure-system-deps.mjs demo|test|bench
// As root with apt-get available, missing Debian packages are installed; otherwise it prints the
// exact install command and exits 1. Set GRAPHRUN_NO_APT=1 to never install.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Each need: how to tell it is there, and the Debian packages that provide it. */
const NEEDS = {
  chromium: { check: () => existsSync('/usr/bin/chromium'), packages: ['chromium'], why: 'status page tests (headless browser)' },
  prometheus: { check: () => has('prometheus'), packages: ['prometheus'], why: '/metrics scrape test' },
  ffmpeg: { check: () => has('ffmpeg') && has('ffprobe'), packages: ['ffmpeg'], why: 'video in, camera simulator' },
  // The RTSP server's typelib and the elements the relay's pipelines use (rtp*: good, h264parse: bad, app*: base).
  'gstreamer-rtsp': { check: () => spawnSync('/usr/bin/python3', ['-c', "import gi; gi.require_version('GstRtspServer','1.0'); gi.require_version('Gst','1.0'); from gi.repository import Gst; Gst.init(None); import sys; sys.exit(0 if all(Gst.ElementFactory.find(e) for e in ('rtph264depay','rtph264pay','rtpbin','h264parse','appsrc','appsink')) else 1)"], { stdio: 'ignore' }).status === 0, packages: ['python3-gi', 'gir1.2-gst-rtsp-server-1.0', 'gstreamer1.0-plugins-base', 'gstreamer1.0-plugins-good', 'gstreamer1.0-plugins-bad'], why: 'camera simulator (mediaMTX stand-in)' },
  // Tests write small ONNX models with fixed outputs (exact decoder checks).
  'python3-onnx': { check: () => spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0, packages: ['python3-onnx'], why: 'tests that generate small ONNX models' },
  // examples/fastapi-backend under uvicorn (Debian's FastAPI 0.92, pydantic v1); multipart for /upload.
  'fastapi-backend': { check: () => spawnSync('/usr/bin/python3', ['-c', 'import fastapi, uvicorn, multipart, jsonschema'], { stdio: 'ignore' }).status === 0, packages: ['python3-fastapi', 'python3-uvicorn', 'python3-multipart', 'python3-jsonschema'], why: 'reference FastAPI backend tests' },
  // The baseline a user would otherwise write (bench/baseline/opencv_yolox.py); the bench leaves it out without cv2.
  'python3-opencv': { check: () => spawnSync('/usr/bin/python3', ['-c', 'import cv2'], { stdio: 'ignore' }).status === 0, packages: ['python3-opencv'], why: "the pipeline bench's OpenCV baseline" },
};
const PROFILES = {
  demo: ['ffmpeg'],
  test: ['chromium', 'prometheus', 'ffmpeg', 'gstreamer-rtsp', 'python3-onnx', 'fastapi-backend'],
  bench: ['ffmpeg', 'python3-opencv'],
};

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const profile = process.argv[2] ?? 'test';
const wanted = PROFILES[profile];
if (!wanted) {
  console.error(`ensure-system-deps: unknown profile "${profile}" (${Object.keys(PROFILES).join(', ')})`);
  process.exit(2);
}
const missing = wanted.filter((n) => !NEEDS[n].check());
if (missing.length === 0) process.exit(0);
const packages = [...new Set(missing.flatMap((n) => NEEDS[n].packages))];
const canApt = process.getuid?.() === 0 && has('apt-get') && process.env.GRAPHRUN_NO_APT !== '1';
if (canApt) {
  console.error(`graphrun: installing ${packages.join(' ')} for ${missing.map((n) => NEEDS[n].why).join(', ')} (apt-get)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
  if (!install()) {
    execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    install();
  }
  const still = wanted.filter((n) => !NEEDS[n].check());
  if (still.length === 0) process.exit(0);
  console.error(`graphrun: could not install ${still.join(', ')}; install it with: apt-get install -y ${[...new Set(still.flatMap((n) => NEEDS[n].packages))].join(' ')}`);
  process.exit(1);
}
console.error(`graphrun ${profile} needs ${missing.join(', ')} (${missing.map((n) => NEEDS[n].why).join('; ')}): sudo apt-get install -y ${packages.join(' ')}`);
process.exit(1);
