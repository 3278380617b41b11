#!/usr/bin/python3
"""Writes testdata/quant/ggml/weighted: more vectors for the importance-weighted k-quant and IQ4_NL
encoders (standard library only). input.f32 holds 16 rows x 1024 columns of float32, imatrix.f32
1024 importance values whose four super-blocks of 256 differ in kind: all equal (1.0); gamma
with 16 consecutive zeros and scattered zeros; log-uniform over ten decades; a few channels 1e4
times the rest. Per type, TYPE-imatrix.bin holds the GGML blocks llama.cpp's own quantizer
(ggml_quantize_chunk with quant_weights, through ../ggml_quant_rows.c) writes for them.
Usage: gen.py PATH/TO/ggml_quant_rows OUTDIR"""
import random, struct, subprocess, sys

drv, out = sys.argv[1], sys.argv[2]
R, C = 16, 1024
rng = random.Random(23)
g = lambda s: rng.gauss(0, s)
rows = []
rows.append([g(0.02) for _ in range(C)])                               # ordinary weights
rows.append([g(1.0) for _ in range(C)])                                # unit scale
rows.append([-abs(g(0.05)) - 0.001 for _ in range(C)])                 # all negative
rows.append([abs(g(0.05)) + 0.001 for _ in range(C)])                  # all positive
r = [g(0.02) for _ in range(C)]
for c in rng.sample(range(C), 12):
    r[c] *= 40                                                         # weight outliers
rows.append(r)
rows.append([g(0.03) if c % 16 else 0.0 for c in range(C)])            # one exact zero per 16
rows.append([0.0] * 300 + [g(0.01) for _ in range(C - 300)])           # zeros across a sub-block edge
rows.append([g(1e-7) for _ in range(C)])                               # tiny values
rows.append([rng.choice([-0.5, -0.25, 0.0, 0.25, 0.5]) for _ in range(C)])  # few levels
rows.append([g(0.02) * rng.paretovariate(2) for _ in range(C)])        # heavy tails
rows.append([g(0.02) + 0.03 for _ in range(C)])                        # offset
rows.append([g(s) for s in [rng.uniform(1e-3, 0.3) for _ in range(C // 16)] for _ in range(16)])  # scale per 16
r = [g(0.02) for _ in range(C)]
for c in range(0, C, 256):
    r[c + 7] = 2.0                                                     # one large value per super-block
rows.append(r)
rows.append([0.01 * ((c * 37) % 17 - 8) for c in range(C)])            # a repeating ramp
rows.append([g(0.05) if (c // 16) % 2 else g(0.001) for c in range(C)])  # alternating sub-block scales
rows.append([g(0.02) for _ in range(C)])
imp = [1.0] * 256
b = [rng.gammavariate(0.7, 1.0) for _ in range(256)]
for c in list(range(32, 48)) + rng.sample(range(256), 20):
    b[c] = 0.0
imp += b
imp += [10 ** rng.uniform(-6, 4) for _ in range(256)]
b = [rng.gammavariate(1.0, 1.0) for _ in range(256)]
for c in rng.sample(range(256), 5):
    b[c] *= 1e4
imp += b
with open(f"{out}/input.f32", "wb") as f:
    for r in rows:
        f.write(struct.pack(f"<{C}f", *r))
with open(f"{out}/imatrix.f32", "wb") as f:
    f.write(struct.pack(f"<{C}f", *imp))
for t in ["q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl"]:
    subprocess.run([drv, t, str(R), str(C), f"{out}/input.f32", f"{out}/{t}-imatrix.bin", f"{out}/imatrix.f32"], check=True)
