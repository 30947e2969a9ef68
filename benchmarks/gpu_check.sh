#!/usr/bin/env bash
# The GPU path in one command, for a machine with NVIDIA GPUs (minutes; exits non-zero on the first failure):
#   1. a random 24-layer PLATO-2 saved as a conversion, and `confab respond` with it on cuda;
#   2. a few steps of each PLATO-2 stage and of the retrieval trainer under torchrun over the visible GPUs
#      (NCCL; DDP, and FSDP for stage 1), from the bundled PERSONA-CHAT sample;
#   3. `confab serve` on cuda and 20 chat requests;
#   4. benchmarks/gpu_check.py's table: reply p50 of bundled:plato2 and of random 24L/32L releases in bfloat16 and
#      float32, training tokens/s of each stage at 93M and 314M, peak GPU memory.
# Without a GPU it says so, runs the same commands small on the CPU (2 gloo processes), and exits 0.
#
#   bash benchmarks/gpu_check.sh            (after `make install`; PYTHON=... to use another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORK=$(mktemp -d)
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT
confab() { "$PY" -m confab.cli "$@"; }
step() { printf '\n== %s\n' "$*"; }

if "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  DEVICE=cuda PROCS=$("$PY" -c "import torch; print(torch.cuda.device_count())") SIZE=93M RELEASE=24L
  TABLE=(--device cuda)
else
  echo "No CUDA GPU visible to PyTorch: the CPU part only (the same commands, small, on 2 gloo processes)."
  DEVICE=cpu PROCS=2 SIZE=tiny RELEASE=""
  TABLE=(--device cpu --sizes tiny --releases --replies 2 --steps 3)
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
torchrun() { "$PY" -m torch.distributed.run --standalone --nproc_per_node "$PROCS" -m confab.cli "$@"; }
SAMPLES=$("$PY" -c "from confab.resources import resource_path; print(resource_path('samples'))")

step "device"
"$PY" -c "from confab.devices import resolve; from confab.precision import choose; d = resolve('$DEVICE'); print(d, choose('auto', d))"

if [ -n "$RELEASE" ]; then
  step "a random $RELEASE PLATO-2 answers on $DEVICE"
  "$PY" -c "from pathlib import Path; from confab.generation.knover import random_release; \
random_release('$RELEASE', Path('$WORK/release'), Path('../shared/plato2_reference'), 'bfloat16')"
  echo "what do you do for a living ?" | confab respond --model "$WORK/release/generator" \
    --evaluator "$WORK/release/evaluator" --device "$DEVICE" --json > "$WORK/release.json"
  "$PY" -c "import json; r = json.load(open('$WORK/release.json')); assert len(r['candidates']) == 20; print('20 candidates')"
else
  step "bundled:plato2 answers on $DEVICE"
  echo "what do you do for a living ?" | confab respond --model bundled:plato2 --device "$DEVICE" --json \
    | "$PY" -c "import json, sys; r = json.load(sys.stdin); assert len(r['candidates']) == 20; print(r['response'])"
fi

step "the bundled PERSONA-CHAT sample as a dataset"
confab data build "$SAMPLES/knover_example_train.tsv.gz" --format knover --examples paths --out "$WORK/ds" \
  --valid-size 50 --test-size 50 > /dev/null

COMMON=(--data "$WORK/ds" --device "$DEVICE" --epochs 1 --max-train 600 --max-context 96 --max-persona 32
        --max-response 32 --tokens-per-step 8192 --max-tokens 2048 --quiet)
step "PLATO-2 stage 1 on $PROCS processes: DDP, then FSDP"
torchrun train plato --stage 1 --config "$SIZE" --out "$WORK/s1" --strategy ddp "${COMMON[@]}"
torchrun train plato --stage 1 --config "$SIZE" --out "$WORK/s1-fsdp" --strategy fsdp "${COMMON[@]}"
step "PLATO-2 stages 2.1 and 2.2 from that stage 1, DDP"
torchrun train plato --stage 2.1 --init "$WORK/s1" --out "$WORK/s21" "${COMMON[@]}"
torchrun train plato --stage 2.2 --init "$WORK/s1" --out "$WORK/s22" "${COMMON[@]}"
step "the retrieval trainer (MiniLM, top 2 layers) on $PROCS processes"
torchrun train retrieval --data "$WORK/ds" --out "$WORK/ret" --encoder pretrained --tuned-layers 2 --epochs 1 \
  --batch-size 64 --device "$DEVICE" --quiet

step "confab serve on $DEVICE, 20 requests"
PORT=$("$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
confab serve --model "$WORK/s21" --evaluator "$WORK/s22" --device "$DEVICE" --port "$PORT" > "$WORK/serve.log" 2>&1 &
SERVER=$!
"$PY" - "$PORT" <<'EOF'
import json, sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(600):  # the model loads first
    try:
        urllib.request.urlopen(url + "/v1/health", timeout=1)
        break
    except OSError:
        time.sleep(0.2)
seconds = []
for i in range(20):
    body = json.dumps({"message": f"hello, tell me about your day ({i})"}).encode()
    request = urllib.request.Request(url + "/v1/chat", body, {"Content-Type": "application/json"})
    start = time.perf_counter()
    reply = json.load(urllib.request.urlopen(request, timeout=120))
    seconds.append(time.perf_counter() - start)
    assert reply["response"], reply
print(f"20 replies, p50 {1000 * sorted(seconds)[10]:.0f} ms")
EOF

step "the table"
"$PY" benchmarks/gpu_check.py "${TABLE[@]}"
if [ "$DEVICE" = cpu ]; then
  echo "No GPU: the CPU part passed; run this again on a machine with a GPU for the GPU figures."
fi
