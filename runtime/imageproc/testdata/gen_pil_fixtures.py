#!/usr/bin/python3
"""Regenerates the PIL reference fixtures of runtime/imageproc (see README.md here).

Run from this directory with Debian's Pillow and numpy:

    apt-get install -y python3-pil python3-numpy
    /usr/bin/python3 gen_pil_fixtures.py

It writes pil_cases.json and the small encoded images under pil/. Synthetic inputs of
the resize and pipeline cases are not stored: they are defined by synth() below, which
imageproc's tests reimplement in Go.
"""

import base64
import hashlib
import io
import json
import os
import struct
import zlib

import numpy as np
import PIL
from PIL import Image

OUT = os.path.dirname(os.path.abspath(__file__))


def synth(w, h, kind, seed):
    """HWC uint8 test image defined by integer formulas (mirrored in Go)."""
    y, x, c = np.meshgrid(np.arange(h, dtype=np.uint64), np.arange(w, dtype=np.uint64),
                          np.arange(3, dtype=np.uint64), indexing="ij")
    m32 = np.uint64(0xFFFFFFFF)
    if kind == "noise":
        v = ((x * np.uint64(73856093)) ^ (y * np.uint64(19349663)) ^ (c * np.uint64(83492791))
             ^ np.uint64(seed)) & m32
        v = (v * np.uint64(2654435761)) & m32
        v ^= v >> np.uint64(16)
        v &= np.uint64(255)
    elif kind == "smooth":
        v = (x * np.uint64(255) // np.uint64(max(w - 1, 1)) + c * np.uint64(85)
             + y * np.uint64(128) // np.uint64(max(h - 1, 1)) + np.uint64(seed)) % np.uint64(256)
    else:
        raise ValueError(kind)
    return v.astype(np.uint8)


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def expect(a, small=4096):
    """Expected bytes: inline (base64) when small, always with their SHA-256."""
    d = {"sha256": sha(a)}
    if a.nbytes <= small:
        d["b64"] = b64(a)
    return d


RESIZE_CASES = [
    # (w_in, h_in, kind, seed, w_out, h_out)
    (75, 50, "noise", 1, 56, 56),
    (7, 5, "noise", 2, 13, 11),
    (13, 11, "noise", 3, 7, 5),
    (5, 5, "noise", 4, 5, 9),
    (9, 5, "noise", 5, 4, 5),
    (1, 1, "noise", 6, 3, 2),
    (2, 3, "smooth", 6, 1, 1),
    (100, 100, "noise", 13, 33, 67),
    (31, 17, "smooth", 7, 896, 896),
    (1023, 767, "noise", 8, 896, 896),
    (1000, 3, "noise", 9, 7, 896),
    (897, 895, "smooth", 10, 896, 896),
    (2000, 1500, "noise", 11, 896, 896),
    (896, 896, "noise", 12, 896, 896),
    (333, 1999, "smooth", 14, 896, 896),
]


def resize_cases():
    out = []
    for w, h, kind, seed, ow, oh in RESIZE_CASES:
        src = Image.fromarray(synth(w, h, kind, seed), "RGB")
        res = np.asarray(src.resize((ow, oh), resample=Image.BILINEAR, reducing_gap=None))
        out.append({"w": w, "h": h, "kind": kind, "seed": seed, "out_w": ow, "out_h": oh,
                    "want": expect(res)})
    return out


def hf_preprocess(rgb, size, min_crop, max_crops, ratio):
    """Gemma3ImageProcessor.preprocess (PIL path) with pan and scan, in numpy."""
    import math
    h, w = rgb.shape[:2]
    crops = []
    if w >= h:
        if w / h >= ratio:
            n = int(math.floor(w / h + 0.5))
            n = min(int(math.floor(w / min_crop)), n)
            n = min(max_crops, max(2, n))
            nw, nh = n, 1
        else:
            nw = nh = 0
    else:
        if h / w >= ratio:
            n = int(math.floor(h / w + 0.5))
            n = min(int(math.floor(h / min_crop)), n)
            n = min(max_crops, max(2, n))
            nw, nh = 1, n
        else:
            nw = nh = 0
    if nw:
        cw, ch = int(math.ceil(w / nw)), int(math.ceil(h / nh))
        if min(cw, ch) >= min_crop:
            for j in range(nh):
                for i in range(nw):
                    crops.append(rgb[j * ch:(j + 1) * ch, i * cw:(i + 1) * cw])
    outs = []
    for im in [rgb] + crops:
        r = np.asarray(Image.fromarray(np.ascontiguousarray(im)).resize(
            (size, size), resample=Image.BILINEAR, reducing_gap=None))
        x = (r.astype(np.float64) * 0.00392156862745098).astype(np.float32)
        mean = np.array([0.5, 0.5, 0.5], dtype=np.float32)
        std = np.array([0.5, 0.5, 0.5], dtype=np.float32)
        x = (x - mean) / std
        outs.append(x.transpose(2, 0, 1))
    return outs, [c.shape[:2] for c in crops]


PIPELINE_CASES = [
    # (w, h, kind, seed, size, min_crop, max_crops, ratio)
    (300, 100, "noise", 21, 28, 32, 4, 1.2),
    (60, 170, "noise", 22, 20, 32, 4, 1.2),
    (500, 50, "smooth", 23, 16, 10, 4, 1.2),
    (90, 80, "noise", 24, 24, 32, 4, 1.2),
]


def pipeline_cases():
    out = []
    for w, h, kind, seed, size, mc, mx, ratio in PIPELINE_CASES:
        outs, crop_hw = hf_preprocess(synth(w, h, kind, seed), size, mc, mx, ratio)
        out.append({"w": w, "h": h, "kind": kind, "seed": seed, "size": size,
                    "min_crop": mc, "max_crops": mx, "ratio": ratio,
                    "crops_hw": [list(s) for s in crop_hw],
                    "want_sha256": [sha(o.astype("<f4")) for o in outs]})
    return out


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(arr, color_type):
    """Minimal 16-bit PNG writer (PIL cannot save 16-bit colour)."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def save(im, name, **kw):
    buf = io.BytesIO()
    im.save(buf, **kw)
    return buf.getvalue()


def file_cases():
    rng = np.random.default_rng(1234)
    W, H = 23, 17
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (H, W), dtype=np.uint8)
    alpha[0, :5] = 0
    alpha[1, :5] = 255
    gray = rng.integers(0, 256, (H, W), dtype=np.uint8)
    files = {}

    files["rgb.png"] = save(Image.fromarray(rgb, "RGB"), "png", format="PNG")
    files["rgba.png"] = save(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "png", format="PNG")
    files["la.png"] = save(Image.fromarray(np.dstack([gray, alpha]), "LA"), "png", format="PNG")
    files["l.png"] = save(Image.fromarray(gray, "L"), "png", format="PNG")
    files["bilevel.png"] = save(Image.fromarray(gray > 127).convert("1"), "png", format="PNG")
    g16 = rng.integers(0, 1024, (H, W), dtype=np.uint16)  # mostly above 255: PIL clips
    g16[0, :4] = [0, 1, 255, 256]
    files["gray16.png"] = png16(g16, 0)
    files["rgb16.png"] = png16(rng.integers(0, 65536, (H, W, 3), dtype=np.uint16), 2)
    rgba16 = rng.integers(0, 65536, (H, W, 4), dtype=np.uint16)
    rgba16[0, :3, 3] = 0
    files["rgba16.png"] = png16(rgba16, 6)

    pal = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    idx = rng.integers(0, 16, (H, W), dtype=np.uint8)
    p = Image.fromarray(idx, "P")
    p.putpalette(pal.flatten().tolist())
    files["palette.png"] = save(p, "png", format="PNG")
    files["palette_trns.png"] = save(p, "png", format="PNG", transparency=bytes([0, 128, 255] + [255] * 13))
    files["palette.gif"] = save(p, "gif", format="GIF")
    files["palette_trns.gif"] = save(p, "gif", format="GIF", transparency=3)
    # A GIF whose first frame is smaller than the logical screen: patch the screen size
    # and the frame offset of a 23x17 GIF to a 30x21 screen with the frame at (4, 2).
    g = bytearray(files["palette_trns.gif"])
    struct.pack_into("<HH", g, 6, 30, 21)
    d = g.index(b"\x2c", 13 + 3 * (2 << (g[10] & 7)))
    struct.pack_into("<HH", g, d + 1, 4, 2)
    files["offset_frame.gif"] = bytes(g)
    g = bytearray(files["palette.gif"])
    struct.pack_into("<HH", g, 6, 30, 21)
    d = g.index(b"\x2c", 13 + 3 * (2 << (g[10] & 7)))
    struct.pack_into("<HH", g, d + 1, 4, 2)
    files["offset_frame_opaque.gif"] = bytes(g)

    files["q90_420.jpg"] = save(Image.fromarray(rgb, "RGB"), "jpg", format="JPEG", quality=90)
    files["q95_444.jpg"] = save(Image.fromarray(rgb, "RGB"), "jpg", format="JPEG", quality=95, subsampling=0)
    files["q90_422.jpg"] = save(Image.fromarray(rgb, "RGB"), "jpg", format="JPEG", quality=90, subsampling=1)
    smooth = synth(41, 29, "smooth", 3)
    files["smooth_420.jpg"] = save(Image.fromarray(smooth, "RGB"), "jpg", format="JPEG", quality=85)
    files["smooth_lossy.webp"] = save(Image.fromarray(smooth, "RGB"), "webp", format="WEBP", quality=80)
    files["lossy_alpha.webp"] = save(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "webp", format="WEBP",
                                     quality=90)
    files["gray.jpg"] = save(Image.fromarray(gray, "L"), "jpg", format="JPEG", quality=90)
    files["cmyk.jpg"] = save(Image.fromarray(np.dstack([rgb, gray]), "CMYK"), "jpg", format="JPEG", quality=95)
    files["lossless.webp"] = save(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "webp", format="WEBP",
                                  lossless=True)
    files["lossy.webp"] = save(Image.fromarray(rgb, "RGB"), "webp", format="WEBP", quality=90)

    os.makedirs(os.path.join(OUT, "pil"), exist_ok=True)
    out = []
    for name, data in files.items():
        with open(os.path.join(OUT, "pil", name), "wb") as f:
            f.write(data)
        im = Image.open(io.BytesIO(data))
        im.load()
        conv = np.asarray(im.convert("RGB"))
        # transformers' alpha-aware convert_to_rgb (Idefics2, Mllama).
        rgba = im.convert("RGBA")
        comp = np.asarray(Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255)), rgba).convert("RGB"))
        out.append({"file": name, "pil_mode": im.mode, "w": im.size[0], "h": im.size[1],
                    "exact": not name.endswith(".jpg"),
                    "rgb": expect(conv), "composite": expect(comp)})
    return out


def main():
    doc = {
        "generator": "gen_pil_fixtures.py",
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "resize": resize_cases(),
        "pipeline": pipeline_cases(),
        "files": file_cases(),
    }
    with open(os.path.join(OUT, "pil_cases.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
