#!/usr/bin/env bash
# Install raycxr, write a synthetic dataset and train + evaluate the paper's configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
data=runs/synthetic-cxr
[ -d "$data" ] || .venv/bin/python -m raycxr.data.synthetic "$data" --n 1000 --size 299 --seed 0
.venv/bin/python -m raycxr.train --data "$data" --out runs/demo --image-size 96 --freeze-ratio 0.5 \
    --loss attention --normalize imagenet --lr 1e-3 --batch-size 16 --epochs 4 "$@"
