"""Regenerates TORCH_BITS in test/engine/io-safetensors.test.ts: the float32, float16 and bfloat16 bit patterns torch
gives each value (`torch.tensor(v, dtype=torch.float32).to(torch.float16 / torch.bfloat16)`, round to nearest even).

    /usr/bin/python3 tools/reference-torch/torch_bits.py
"""
import math
import struct

import torch

VALUES = [  # (value, how the test writes it)
    (1.0, "1.0"), (-2.0, "-2.0"), (0.1, "0.1"), (1 / 3, "1 / 3"), (65504.0, "65504.0"), (65519.0, "65519.0"),
    (65520.0, "65520.0"), (1e-8, "1e-8"), (2 ** -24, "2 ** -24"), (2 ** -25, "2 ** -25"), (3 * 2 ** -26, "3 * 2 ** -26"),
    (1 + 2 ** -11, "1 + 2 ** -11"), (1 + 3 * 2 ** -11, "1 + 3 * 2 ** -11"), (-0.0, "-0.0"), (1e5, "1e5"),
    (6.1e-5, "6.1e-5"), (3.14159265, "3.14159265"), (-123.456, "-123.456"), (2 ** -14, "2 ** -14"), (5.96e-8, "5.96e-8"),
    (1e38, "1e38"), (3.4e38, "3.4e38"), (1 + 2 ** -8, "1 + 2 ** -8"), (1 + 3 * 2 ** -8, "1 + 3 * 2 ** -8"),
    (math.inf, "Infinity"),
]


def bits(t):
    return t.view(torch.int16).item() & 0xFFFF if t.dtype != torch.float32 else t.view(torch.int32).item() & 0xFFFFFFFF


print(f"// torch {torch.__version__}")
for v, text in VALUES:
    t = torch.tensor([v], dtype=torch.float32)
    f32 = struct.unpack("<I", struct.pack("<f", t.item()))[0]
    print(f"  [{text}, 0x{f32:08x}, 0x{bits(t.to(torch.float16)):04x}, 0x{bits(t.to(torch.bfloat16)):04x}],")
