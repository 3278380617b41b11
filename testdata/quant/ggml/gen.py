#!/usr/bin/python3
"""Writes the test vectors of testdata/quant/ggml: float32 rows (input.f32, 16 rows x 512 columns),
an importance vector (imatrix.f32, 512 values), and, per type, the bytes llama.cpp's own quantizer
(ggml_quantize_chunk in libggml-base, through ggml_quant_rows.c) writes for them, without and with
the importance weights. Usage: gen.py PATH/TO/ggml_quant_rows OUTDIR"""
import subprocess, sys
import numpy as np

drv, out = sys.argv[1], sys.argv[2]
R, C = 16, 512
rng = np.random.default_rng(15)
x = np.zeros((R, C), np.float32)
for r in range(4):
    x[r] = rng.normal(0, 0.02 * (r + 1), C)                      # ordinary weights
x[4] = rng.normal(0, 0.02, C); x[4, rng.choice(C, 6, replace=False)] *= 25   # weight outliers
x[5, 256:] = rng.normal(0, 0.05, 256)                            # a zero super-block, then values
x[6] = rng.uniform(0.001, 0.1, C)                                # one-signed (asymmetric) row
x[7] = rng.normal(0, 1e-8, C)                                    # tiny values
x[8] = rng.normal(0, 0.03, C).astype(np.float32)
x[8] = (x[8].view(np.uint32) & 0xFFFF0000).view(np.float32)      # bf16-exact values
x[9] = 0.0123                                                    # constant row
x[10] = rng.standard_t(3, C) * 0.01                              # heavy tails
x[11] = np.round(rng.normal(0, 2, C) * 16) / 16                  # many exact ties
for r in range(12, 16):                                          # scale changes every 32 columns
    x[r] = rng.normal(0, 1, C) * np.repeat(rng.uniform(0.001, 0.2, C // 32), 32)
x[13, :32] = -x[13, :32]
x[14, 100] = -3.0
x = x.astype(np.float32)
imp = rng.gamma(0.7, 1.0, C).astype(np.float32)
imp[rng.choice(C, 8, replace=False)] *= 300                      # a few activation outlier channels
x.tofile(f"{out}/input.f32")
imp.tofile(f"{out}/imatrix.f32")
for t in ["q4_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl"]:
    subprocess.run([drv, t, str(R), str(C), f"{out}/input.f32", f"{out}/{t}.bin"], check=True)
    subprocess.run([drv, t, str(R), str(C), f"{out}/input.f32", f"{out}/{t}-imatrix.bin", f"{out}/imatrix.f32"], check=True)
