#!/usr/bin/env python3
"""Runs an exported Routescope fp16 CUDA graph (tools/cuda-check/export.ts) with onnxruntime-gpu's
CUDAExecutionProvider and compares it with the CPU result saved next to it (cpu-outputs.json).

Needs Python 3.9+, numpy and onnxruntime-gpu (CUDA 12, cuDNN 9). Usage:

    python3 tools/cuda-check/check_cuda.py EXPORT_DIR [--tol 5e-3] [--max-expert-mismatch 0.02]
    python3 tools/cuda-check/check_cuda.py EXPORT_DIR --dry-run   # files and shapes only, no onnxruntime
    python3 tools/cuda-check/check_cuda.py EXPORT_DIR --outputs FILE.json  # compare saved outputs, no onnxruntime

Checks, in order (exit 1 on the first group that fails, 0 when all pass):
1. onnxruntime's CPU provider here reproduces cpu-outputs.json (1e-4): the export loads the same in Python.
2. CUDA is really used (TF32 off, so everything outside the MoE op stays fp32): the session's first provider is CUDAExecutionProvider and the profile shows every
   com.microsoft.MoE node run by it (an fp16 MoE on the CPU provider would be the fp32 op through Casts).
3. CUDA against the CPU result: logits and router logits within --tol relative (per row: max |diff| / max |cpu|),
   the experts of the first MoE layer identical (its routing sees no MoE output), later layers' expert sets
   identical on all but --max-expert-mismatch of the rows (near ties flip when the fp16 experts of earlier layers
   move the hidden states), mixing weights within --tol where the sets agree.

Why 5e-3: the CPU result is the fp32 MoE op on fp16-rounded expert weights. CUDA's fp16 kernel also rounds the
op's input, the log-weights it routes on, its intermediate activations and its output to fp16 (2^-11 relative
each); on the tiny test models the input/log-weight/output rounding alone moves logits by up to 7e-4 relative.
Real checkpoints with many layers may need a larger --tol: report the figure, do not just raise it.
"""
import argparse
import json
import pathlib
import sys

import numpy as np


def load_tensors(path):
    raw = json.loads(path.read_text())
    out = {}
    for name, t in raw.items():
        dtype = np.int64 if t["dtype"] == "int64" else np.float32
        out[name] = np.asarray(t["data"], dtype=dtype).reshape(t["dims"])
    return out


def row_errors(got, ref):
    """Per row of the last axis: max |got - ref| / max |ref| (0 when both are zero)."""
    g = got.reshape(-1, got.shape[-1]).astype(np.float64)
    r = ref.reshape(-1, ref.shape[-1]).astype(np.float64)
    diff = np.abs(g - r).max(axis=1)
    scale = np.abs(r).max(axis=1)
    return np.where(scale == 0, diff, diff / np.where(scale == 0, 1, scale))


def compare(got, ref, meta, tol, max_mismatch, label):
    failures = []
    lines = []
    missing = [n for n in meta["outputs"] if n not in got]
    if missing:
        return [f"{label}: outputs missing: {missing}"], lines
    for name in meta["outputs"]:
        if got[name].shape != ref[name].shape:
            failures.append(f"{label}: {name} has shape {got[name].shape}, expected {ref[name].shape}")
    if failures:
        return failures, lines
    err = row_errors(got["logits"], ref["logits"]).max()
    lines.append(f"{label}: logits worst relative error {err:.3e} (tolerance {tol:g})")
    if not err <= tol:
        failures.append(f"{label}: logits differ by {err:.3e} > {tol:g}")
    for i, layer in enumerate(meta["moeLayers"]):
        rl = row_errors(got[f"router_logits.{i}"], ref[f"router_logits.{i}"]).max()
        ge = np.sort(got[f"topk_experts.{i}"].reshape(-1, meta["topK"]), axis=1)
        re = np.sort(ref[f"topk_experts.{i}"].reshape(-1, meta["topK"]), axis=1)
        same = (ge == re).all(axis=1)
        frac = 1 - same.mean()
        gw = got[f"topk_weights.{i}"].reshape(-1, meta["topK"])[same]
        rw = ref[f"topk_weights.{i}"].reshape(-1, meta["topK"])[same]
        # Compare weights in expert order (the sets agree on these rows, the order of equal weights may not).
        go = np.take_along_axis(gw, np.argsort(got[f"topk_experts.{i}"].reshape(-1, meta["topK"])[same], axis=1), axis=1)
        ro = np.take_along_axis(rw, np.argsort(ref[f"topk_experts.{i}"].reshape(-1, meta["topK"])[same], axis=1), axis=1)
        we = row_errors(go, ro).max() if len(go) else 0.0
        lines.append(f"{label}: MoE layer {i} (decoder layer {layer}): router logits {rl:.3e}, expert sets differ on {frac:.2%} of rows, weights {we:.3e}")
        allowed = 0 if i == 0 else max_mismatch
        if not rl <= tol:
            failures.append(f"{label}: router logits of MoE layer {i} differ by {rl:.3e} > {tol:g}")
        if frac > allowed:
            failures.append(f"{label}: expert sets of MoE layer {i} differ on {frac:.2%} of rows (allowed {allowed:.2%})")
        if not we <= tol:
            failures.append(f"{label}: mixing weights of MoE layer {i} differ by {we:.3e} > {tol:g}")
    return failures, lines


def run(ort, model, providers, inputs, outputs, profile_prefix=None):
    so = ort.SessionOptions()
    so.add_session_config_entry("session.disable_prepacking", "1")
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    sess = ort.InferenceSession(str(model), sess_options=so, providers=providers)
    values = sess.run(outputs, inputs)
    profile = sess.end_profiling() if profile_prefix else None
    return sess.get_providers(), dict(zip(outputs, values)), profile


def moe_providers(profile_file):
    """The provider of every MoE node run recorded in an onnxruntime profile."""
    events = json.loads(pathlib.Path(profile_file).read_text())
    return sorted({(e["args"].get("provider"), e["name"]) for e in events if e.get("cat") == "Node" and e.get("args", {}).get("op_name") == "MoE"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export_dir", type=pathlib.Path)
    ap.add_argument("--tol", type=float, default=5e-3)
    ap.add_argument("--max-expert-mismatch", type=float, default=0.02)
    ap.add_argument("--dry-run", action="store_true", help="check the files and shapes only (no onnxruntime needed)")
    ap.add_argument("--outputs", type=pathlib.Path, help="outputs saved elsewhere (same JSON format) to compare with the CPU result instead of running")
    args = ap.parse_args()
    d = args.export_dir
    meta = json.loads((d / "meta.json").read_text())
    inputs = load_tensors(d / "inputs.json")
    cpu = load_tensors(d / "cpu-outputs.json")
    for f in meta["files"] + ["model.onnx"]:
        if not (d / f).is_file():
            print(f"missing file {d / f}", file=sys.stderr)
            return 1
    if args.dry_run or args.outputs:
        other = load_tensors(args.outputs) if args.outputs else cpu
        label = f"{args.outputs.name} vs CPU" if args.outputs else "dry run (cpu vs itself)"
        failures, lines = compare(other, cpu, meta, args.tol, args.max_expert_mismatch, label)
        print("\n".join(lines + failures))
        return 1 if failures else 0

    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime is not installed: pip install onnxruntime-gpu (CUDA 12, cuDNN 9)", file=sys.stderr)
        return 1

    print(f"onnxruntime {ort.__version__}, available providers {ort.get_available_providers()}")
    providers, got_cpu, _ = run(ort, d / "model.onnx", ["CPUExecutionProvider"], inputs, meta["outputs"])
    failures, lines = compare(got_cpu, cpu, meta, 1e-4, args.max_expert_mismatch, "python CPU vs saved CPU")
    print("\n".join(lines))
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print("CUDAExecutionProvider is not available (install onnxruntime-gpu with CUDA 12 and cuDNN 9)", file=sys.stderr)
        return 1
    # TF32 off: the fp32 parts of the graph (attention, routers) stay fp32, so the comparison isolates the fp16 MoE.
    cuda = ("CUDAExecutionProvider", {"use_tf32": "0"})
    providers, got_cuda, profile = run(ort, d / "model.onnx", [cuda, "CPUExecutionProvider"], inputs, meta["outputs"], str(d / "cuda-profile"))
    placed = moe_providers(profile)
    print(f"session providers {providers}; MoE nodes run by {sorted({p for p, _ in placed})}")
    if providers[0] != "CUDAExecutionProvider" or not placed or any(p != "CUDAExecutionProvider" for p, _ in placed):
        print(f"the MoE nodes did not all run on CUDA: {placed}", file=sys.stderr)
        return 1
    failures, lines = compare(got_cuda, cpu, meta, args.tol, args.max_expert_mismatch, "CUDA vs CPU")
    print("\n".join(lines))
    np.savez(d / "cuda-outputs.npz", **got_cuda)
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    print("CUDA fp16 graph agrees with the CPU result")
    return 0


if __name__ == "__main__":
    sys.exit(main())
