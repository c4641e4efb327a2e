# Run benchmark scripts one after another on the device (timings must not share the GPU), results to $OUT.
#   bash benchmarks/device_bench.sh COMMIT "python3 benchmarks/gpu_layer.py --device cuda" ...
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD NEURO_LLM_DATA=$PWD/.data PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 NEURO_LLM_COMMIT=$1
shift
mkdir -p $OUT/logs; touch /tmp/marker
i=0
for cmd in "$@"; do
  i=$((i+1))
  echo "=== $cmd"
  start=$(date +%s)
  bash -c "$cmd" > $OUT/logs/bench_$i.txt 2>&1
  echo "rc=$? $(( $(date +%s) - start )) s"
  grep -v USDT $OUT/logs/bench_$i.txt | tail -n 25
done
find benchmarks/results -newer /tmp/marker -name '*.json' -exec cp {} $OUT/ \;
ls $OUT
