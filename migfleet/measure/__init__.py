"""`migfleet measure`: capacity tables measured on a canary GPU (docs/MEASURE.md).

Controller side: grid (what is measured), results (the JSONL a run appends to, and resumes from),
table (version-2 capacity table from the results), run (the loop over one host), plot. Host side,
standard library only and shipped with the deploy's host code: host (drain, layouts, one Triton,
model loads with a config override, GPU memory, restore), perf (one perf_analyzer run, parsed).
"""
