#!/usr/bin/python3
"""Reads the simulate --json files of bench/dp_fashion_mnist.sh, prints the accuracy vs epsilon
table (markdown) and draws the plot as a PNG with the standard library only (zlib): test
accuracy (y, %) against epsilon (x, log scale 0.1 to 100), one trajectory per run (a point per
round, the last round marked; epsilon outside the axis is drawn at its edge), central DP blue, distributed orange, local green, no-DP grey line.
usage: dp_plot.py OUT_DIR PNG"""
import glob
import json
import math
import os
import struct
import sys
import zlib

COLORS = {"central": (31, 95, 191), "distributed": (230, 120, 20), "local": (40, 160, 60)}
GLYPHS = {"0": 0x7B6F, "1": 0x2C97, "2": 0x73E7, "3": 0x73CF, "4": 0x5BC9, "5": 0x79CF,
          "6": 0x79EF, "7": 0x7249, "8": 0x7BEF, "9": 0x7BCF, "%": 0x52A5, ".": 0x0002}


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.rgb = bytearray([255] * (w * h * 3))

    def set(self, x, y, c):
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.rgb[i:i + 3] = bytes(c)

    def line(self, x0, y0, x1, y1, c, thick=1):
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for i in range(steps + 1):
            t = i / steps
            x, y = round(x0 + t * (x1 - x0)), round(y0 + t * (y1 - y0))
            for dx in range(thick):
                for dy in range(thick):
                    self.set(x + dx - thick // 2, y + dy - thick // 2, c)

    def text(self, x, y, s, c=(0, 0, 0)):
        for ch in s:
            g = GLYPHS.get(ch, 0)
            for r in range(5):
                for col in range(3):
                    if g >> (14 - (r * 3 + col)) & 1:
                        for k in range(4):
                            self.set(x + col * 2 + k % 2, y + r * 2 + k // 2, c)
            x += 8

    def png(self, path):
        raw = b"".join(b"\0" + bytes(self.rgb[y * self.w * 3:(y + 1) * self.w * 3])
                       for y in range(self.h))

        def chunk(kind, data):
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h,
                                                                          8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main(out_dir, png):
    runs = []
    for path in sorted(glob.glob(os.path.join(out_dir, "*.json"))):
        with open(path) as f:
            runs.append((os.path.basename(path)[:-5], json.load(f)))
    print("| run | mode | z | clip | rounds | epsilon (delta 1e-5) | test accuracy % |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in runs:
        last = r["rounds"][-1]
        dp = r.get("dp")
        if dp:
            print(f"| {name} | {dp['mode']} | {dp['noise_multiplier']} | {dp['clip']} | "
                  f"{len(r['rounds'])} | {dp['epsilon']:.3f} | {100 * last['test_accuracy']:.2f} |")
        else:
            print(f"| {name} | none | - | - | {len(r['rounds'])} | inf | "
                  f"{100 * last['test_accuracy']:.2f} |")

    w, h, left, right, top, bottom = 720, 440, 50, 20, 20, 40
    c = Canvas(w, h)
    pw, ph = w - left - right, h - top - bottom
    lo, hi = math.log10(0.1), math.log10(100)
    px = lambda eps: left + (math.log10(min(max(eps, 0.1), 100)) - lo) / (hi - lo) * pw
    py = lambda acc: top + (1 - acc) * ph
    for p in range(11):
        c.line(left, py(p / 10), left + pw, py(p / 10), (0, 0, 0) if p == 0 else (221, 221, 221))
        if p % 2 == 0:
            c.text(4, int(py(p / 10)) - 5, f"{p * 10}%")
    c.line(left, top, left, top + ph, (0, 0, 0))
    for e in (0.1, 1, 10, 100):
        c.line(px(e), top, px(e), top + ph, (221, 221, 221))
        label = f"{e:g}"
        c.text(int(px(e)) - 4 * len(label), top + ph + 10, label)
    for name, r in runs:
        dp = r.get("dp")
        if not dp:
            acc = r["rounds"][-1]["test_accuracy"]
            for x in range(left, left + pw, 12):
                c.line(x, py(acc), x + 6, py(acc), (120, 120, 120), 2)
            continue
        color = COLORS[dp["mode"]]
        pts = [(px(x["epsilon"]), py(x["test_accuracy"])) for x in r["rounds"]
               if x["epsilon"] is not None]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            c.line(x0, y0, x1, y1, color, 1)
        if pts:
            c.line(pts[-1][0], pts[-1][1], pts[-1][0], pts[-1][1], color, 9)
    c.png(png)
    print(f"\nplot: {png}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
