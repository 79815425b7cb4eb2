#!/usr/bin/env bash
# bench/gpu.sh — graphrun's GPU profile bench, self-contained for a GPU host without internet.
#
#   bench/gpu.sh bundle OUT.tar.gz      here, in the project: build, and pack everything the run
#                                       needs (dist/, production node_modules for linux-x64, the
#                                       graphs, the model manifest, the models, pre-decoded
#                                       frames, a Node binary, libvulkan.so.1)
#   bench/gpu.sh run [options]          on the GPU host, inside the unpacked bundle:
#                                       environment checks, then providers {webgpu, cuda where its
#                                       binaries are present, cpu} × streams {1, 8, 32} ×
#                                       pipelines {detect, full}; a markdown table and JSON
#   bench/gpu.sh run --local [--quick]  the same matrix here, CPU provider, 1 and 2 streams
#                                       (--dry-run is the same); in the project, no bundle needed
#   bench/gpu.sh check                  only the environment checks
#
# run options (passed to dist/bench/gpu.js run): --providers webgpu,cuda,cpu --streams 1,8,32
#   --pipelines detect,full --seconds 20 --warmup 5 --fps 0 --cpu-workers N --gpu-workers 1
#   --max-batch N --overrides FILE.yml --out DIR --quick
# bundle settings (environment): GPU_BENCH_FRAMES (32), GPU_BENCH_CLIP (vtest from the media
#   mirror), GPU_BENCH_SIZE (1280x720), GPU_BENCH_NODE_BINARY=0 to leave Node out; in the
#   project, `run` prepares the same into GPU_BENCH_DATA (var/gpu-bench) once.
# See bench/README.md, "GPU hosts".
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
NAME=graphrun-gpu-bench

die() { echo "gpu.sh: $*" >&2; exit 1; }
say() { echo "gpu.sh: $*" >&2; }

usage() {
  sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

in_bundle() { [ -f "$ROOT/BUNDLE.json" ]; }

# Node ≥ 20.6 whose native-module ABI matches the one the bundle was built with (better-sqlite3
# is compiled for it; onnxruntime and canvas use N-API and do not care).
pick_node() {
  local want_abi=""
  if in_bundle; then want_abi="$(sed -n 's/.*"modules": *"\([0-9]*\)".*/\1/p' "$ROOT/BUNDLE.json" | head -1)"; fi
  local c v abi
  for c in "${GPU_BENCH_NODE:-}" "$ROOT/runtime/node" "$(command -v node 2>/dev/null || true)"; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    v="$("$c" -p 'process.versions.node' 2>/dev/null)" || continue
    abi="$("$c" -p 'process.versions.modules' 2>/dev/null)" || continue
    case "$v" in
      20.[6-9].*|20.[1-9][0-9].*|2[1-9].*|[3-9][0-9].*) ;;
      *) say "skipping $c: Node $v (need ≥ 20.6)"; continue ;;
    esac
    if [ -n "$want_abi" ] && [ "$abi" != "$want_abi" ]; then say "skipping $c: Node $v has module ABI $abi, the bundle's native modules want $want_abi"; continue; fi
    echo "$c"; return 0
  done
  die "no usable Node: need ≥ 20.6${want_abi:+ with module ABI $want_abi} (the bundle's runtime/node is one, unless it was built with GPU_BENCH_NODE_BINARY=0); set GPU_BENCH_NODE=/path/to/node"
}

bundle() {
  local out="${1:-}"
  [ -n "$out" ] || usage
  case "$out" in *.tar.gz|*.tgz) ;; *) die "bundle writes a .tar.gz (got $out)" ;; esac
  in_bundle && die "bundle runs in the project, not in an unpacked bundle"
  [ -f "$ROOT/package.json" ] && [ -d "$ROOT/src" ] || die "bundle runs in the project ($ROOT has no package.json and src/)"
  local t
  for t in node npm tar gzip ffmpeg; do command -v "$t" >/dev/null || die "bundle needs $t on this host"; done
  [ "$(uname -m)" = x86_64 ] || die "bundle packs this host's native modules: run it on linux-x64 (this is $(uname -m))"
  mkdir -p "$(dirname "$out")" || die "cannot create the folder of $out"
  out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"

  say "building (npm run build)"
  (cd "$ROOT" && npm run --silent build >&2) || die "the build failed"

  local stage
  BUNDLE_TMP="$(mktemp -d "${TMPDIR:-/tmp}/gpu-bundle.XXXXXX")"
  trap 'rm -rf "$BUNDLE_TMP"' EXIT
  stage="$BUNDLE_TMP/$NAME"
  mkdir -p "$stage/bench" "$stage/src/status" "$stage/runtime/lib"

  say "copying the project (dist, graphs, models manifest, schemas)"
  (cd "$ROOT" && cp -a package.json package-lock.json dist graphs models schemas "$stage/")
  cp "$ROOT/src/status/page.html" "$stage/src/status/"
  cp "$ROOT/src/worker-boot.mjs" "$stage/src/"
  cp "$ROOT/bench/gpu.sh" "$ROOT/bench/README.md" "$stage/bench/"
  find "$stage/dist" -name '*.map' -delete

  # Production dependencies only (npm's own list), linux-x64 binaries only.
  say "copying node_modules (production dependencies, linux-x64 only)"
  local list
  list="$(cd "$ROOT" && npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | sed "s|^$ROOT/||" | grep -E '^node_modules/(@[^/]+/)?[^/]+$' | sort -u)" \
    || die "npm ls failed: are node_modules installed (npm ci)?"
  [ -n "$list" ] || die "npm ls listed no production dependencies"
  # shellcheck disable=SC2086
  (cd "$ROOT" && tar -cf - \
    --exclude='node_modules/onnxruntime-node/bin/napi-v6/darwin' \
    --exclude='node_modules/onnxruntime-node/bin/napi-v6/win32' \
    --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/arm64' \
    --exclude='node_modules/better-sqlite3/deps' \
    --exclude='node_modules/better-sqlite3/src' \
    --exclude='node_modules/better-sqlite3/build/Release/obj*' \
    --exclude='node_modules/better-sqlite3/build/Release/.deps' \
    --exclude='node_modules/better-sqlite3/build/deps' \
    --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' --exclude='*.map' --exclude='dist-types' \
    $list) | tar -C "$stage" -xf -
  [ -f "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1" ] || die "onnxruntime-node's linux-x64 binaries are missing from node_modules"
  if [ -f "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so" ]; then
    say "  the CUDA provider's binaries are in this onnxruntime-node: they go along"
  fi

  say "frames and models (node dist/bench/gpu.js prepare)"
  local prep=(prepare --out "$stage/bench-data" --frames "${GPU_BENCH_FRAMES:-32}" --size "${GPU_BENCH_SIZE:-1280x720}")
  [ -n "${GPU_BENCH_CLIP:-}" ] && prep+=(--clip "$GPU_BENCH_CLIP")
  (cd "$ROOT" && node dist/bench/gpu.js "${prep[@]}") || die "prepare failed"

  if [ "${GPU_BENCH_NODE_BINARY:-1}" != 0 ]; then
    cp "$(readlink -f "$(command -v node)")" "$stage/runtime/node"
    say "Node $(node -p process.version) goes along as runtime/node (the host may lack Node 20; it needs glibc and libstdc++)"
  fi
  local vk
  # (awk reads everything: quitting early would make ldconfig fail on a closed pipe)
  vk="$( { /sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null || true; } | awk '/libvulkan\.so\.1 .*x86-64/ && !f {print $NF; f=1}')"
  if [ -n "$vk" ] && [ -f "$vk" ]; then
    cp -L "$vk" "$stage/runtime/lib/libvulkan.so.1"
    say "libvulkan.so.1 goes along (used only where the host has none)"
  else
    say "no libvulkan.so.1 on this host: the GPU host must have its own (apt-get install libvulkan1)"
  fi

  local commit dirty
  commit="$(cd "$ROOT" && git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  dirty="$(cd "$ROOT" && { git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true || echo false; })"
  node -e '
    const [file, commit, dirty, withNode] = process.argv.slice(1);
    require("fs").writeFileSync(file, JSON.stringify({
      format: "graphrun-gpu-bundle/1", createdAt: new Date().toISOString(), commit, dirty: dirty === "true",
      node: process.version, modules: process.versions.modules, platform: process.platform + "-" + process.arch,
      nodeBinary: withNode === "1",
      run: "bench/gpu.sh run   (bench/gpu.sh check: the environment only)",
    }, null, 2) + "\n");
  ' "$stage/BUNDLE.json" "$commit" "$dirty" "${GPU_BENCH_NODE_BINARY:-1}"

  say "packing $out"
  tar -C "$BUNDLE_TMP" -czf "$out" "$NAME"
  local unpacked packed
  unpacked="$(du -sh "$stage" | cut -f1)"
  packed="$(du -h "$out" | cut -f1)"
  say "done: $out ($packed; $unpacked unpacked): du of its parts:"
  (cd "$stage" && du -sh runtime node_modules bench-data dist 2>/dev/null | sed 's/^/    /' >&2)
  cat >&2 <<EOF

On the GPU host:
  tar xzf $(basename "$out") && cd $NAME && bench/gpu.sh run
EOF
}

run() {
  local args=() local_mode=0 a
  for a in "$@"; do
    case "$a" in
      --local|--dry-run) local_mode=1; args+=(--local) ;;
      *) args+=("$a") ;;
    esac
  done
  local data
  if in_bundle; then
    data="$ROOT/bench-data"
  else
    # In the project: build when needed, frames and models into var/gpu-bench (or
    # $GPU_BENCH_DATA) once.
    data="${GPU_BENCH_DATA:-$ROOT/var/gpu-bench}"
    if [ ! -f "$ROOT/dist/bench/gpu.js" ] || [ "$ROOT/bench/gpu.ts" -nt "$ROOT/dist/bench/gpu.js" ] || [ "$ROOT/bench/lib/gpu-nodes.ts" -nt "$ROOT/dist/bench/lib/gpu-nodes.js" ]; then
      say "building (npm run build)"
      (cd "$ROOT" && npm run --silent build >&2) || die "the build failed"
    fi
    if [ ! -f "$data/data.json" ]; then
      say "preparing frames and models in $data"
      (cd "$ROOT" && node dist/bench/gpu.js prepare --out "$data" --frames "${GPU_BENCH_FRAMES:-32}" --size "${GPU_BENCH_SIZE:-1280x720}" ${GPU_BENCH_CLIP:+--clip "$GPU_BENCH_CLIP"}) || die "prepare failed"
    fi
    [ "$local_mode" = 1 ] || say "not in a bundle and without --local: running the GPU matrix from the project"
  fi
  local node
  node="$(pick_node)"
  say "node: $node ($("$node" -p process.version))"
  cd "$ROOT"
  exec "$node" dist/bench/gpu.js run --data "$data" "${args[@]}"
}

check() {
  local node
  node="$(pick_node)"
  cd "$ROOT"
  exec "$node" dist/bench/gpu.js check "$@"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  bundle) bundle "$@" ;;
  run) run "$@" ;;
  check) check "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
