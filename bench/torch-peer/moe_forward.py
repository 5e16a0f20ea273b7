"""
PyTorch peer for `npm run bench:engine` (run kind `torch`): an eager fp32 forward of a Qwen3-MoE checkpoint
written the way Hugging Face transformers runs it on CPU, so Routescope's speed can be set against "the usual
alternative" on the same weights and prompts. Benchmarks only: the app and its tests never import PyTorch.

What is mirrored from transformers (modeling_qwen3_moe, read and re-written, not copied):
- MoE block: router linear, softmax in fp32, top-k, renormalised when norm_topk_prob; then a Python loop over
  the experts that received at least one token (one_hot mask, nonzero), each gathering its tokens, running
  its SwiGLU MLP, scaling by the routing weight and index_add_-ing into the output.
  Stacked checkpoints (experts.gate_up_proj [E, 2I, H], experts.down_proj [E, H, I]) run one gate_up matmul
  per expert, as transformers 5 does; per-expert checkpoints run gate_proj and up_proj separately (4.x).
- Attention: q/k/v projections, per-head RMSNorm on q and k, rotary embedding (rotate_half form), a KV cache
  grown by torch.cat each step (DynamicCache), repeat_kv for grouped heads, then scaled dot-product attention
  (torch's fused SDPA when this torch has it, transformers' default; else the eager matmul-softmax-matmul).
- Logits for the last position only (what generate asks for with logits_to_keep=1).

Weights are read straight from the safetensors files (8-byte header length, JSON header, raw data) with
numpy memory maps: F32 tensors are used in place (no copy), F16/BF16 ones are widened to fp32 once.

Protocol (--serve): one JSON request per stdin line, one JSON answer per stdout line:
  {"cmd": "info"}                               -> shapes, torch version, attention kind
  {"cmd": "threads", "n": 2}                    -> torch.set_num_threads(n) and OpenBLAS's own pool
  {"cmd": "prefill", "ids": [...], "check": b}  -> {"ms"} (+ with check: "experts" [layer][token*k],
                                                   "router_logits" [layer][token*E], "logits" of the last token;
                                                   with "split": true, "split_ms" of attention and MoE blocks)
  {"cmd": "decode", "prompt": [...], "steps": n} -> greedy decode with the KV cache: per-step "ms" and "tokens"
Errors come back as {"error": "..."}; the process exits on end of input.
"""
import ctypes
import json
import math
import os
import struct
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as err:  # the benchmark reads this line and skips the column with it
    print(json.dumps({"error": f"PyTorch peer unavailable: {err} (install: apt-get install -y python3-torch libopenblas0-pthread)"}), flush=True)
    sys.exit(3)

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}


class ModelError(Exception):
    pass


def read_header(path):
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ModelError(f"{path}: shorter than the 8-byte safetensors header length")
        (n,) = struct.unpack("<Q", raw)
        if n > 100 * 2**20:
            raise ModelError(f"{path}: safetensors header length {n} is implausible")
        header = json.loads(f.read(n))
    return 8 + n, header


class Weights:
    """Name -> fp32 torch tensor, mapped from the folder's safetensors file(s)."""

    def __init__(self, folder):
        self.folder = folder
        index = os.path.join(folder, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                files = sorted(set(json.load(f)["weight_map"].values()))
        elif os.path.exists(os.path.join(folder, "model.safetensors")):
            files = ["model.safetensors"]
        else:
            raise ModelError(f"{folder}: no model.safetensors or model.safetensors.index.json")
        self.where = {}
        for name in files:
            path = os.path.join(folder, name)
            base, header = read_header(path)
            for key, meta in header.items():
                if key != "__metadata__":
                    self.where[key] = (path, base, meta)

    def has(self, name):
        return name in self.where

    def get(self, name):
        if name not in self.where:
            raise ModelError(f"{self.folder}: tensor {name} is missing")
        path, base, meta = self.where[name]
        dtype = DTYPES.get(meta["dtype"])
        if dtype is None:
            raise ModelError(f"{path}: tensor {name} has dtype {meta['dtype']}; the peer reads F32, F16 and BF16")
        start, end = meta["data_offsets"]
        shape = tuple(meta["shape"])
        count = (end - start) // np.dtype(dtype).itemsize
        # Copy-on-write map: shares the page cache with Routescope's own mapping, never written.
        arr = np.memmap(path, dtype=dtype, mode="c", offset=base + start, shape=(count,)).reshape(shape)
        if meta["dtype"] == "F32":
            return torch.from_numpy(arr)
        if meta["dtype"] == "F16":
            return torch.from_numpy(arr.astype(np.float32))
        widened = arr.astype(np.uint32) << 16  # bf16 is the top half of an fp32
        return torch.from_numpy(widened.view(np.float32))


def rms_norm(x, weight, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Qwen3Moe:
    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            c = json.load(f)
        if c.get("model_type") != "qwen3_moe":
            raise ModelError(f"{folder}/config.json: model_type is {c.get('model_type')!r}; the PyTorch peer runs qwen3_moe only")
        scaling = c.get("rope_scaling")
        if scaling and (scaling.get("rope_type") or scaling.get("type")) not in (None, "default"):
            raise ModelError(f"{folder}/config.json: rope_scaling {scaling} is not supported by the peer")
        if c.get("use_sliding_window"):
            raise ModelError(f"{folder}/config.json: use_sliding_window is not supported by the peer")
        self.c = c
        self.hidden = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c["num_key_value_heads"]
        self.head_dim = c.get("head_dim") or self.hidden // self.heads
        self.eps = c["rms_norm_eps"]
        self.num_experts = c["num_experts"]
        self.top_k = c["num_experts_per_tok"]
        self.norm_topk = c.get("norm_topk_prob", False)
        self.vocab = c["vocab_size"]
        w = Weights(folder)
        self.embed = w.get("model.embed_tokens.weight")
        self.norm = w.get("model.norm.weight")
        self.lm_head = self.embed if c.get("tie_word_embeddings") and not w.has("lm_head.weight") else w.get("lm_head.weight")
        sparse_step = c.get("decoder_sparse_step", 1)
        mlp_only = set(c.get("mlp_only_layers", []))
        self.layers = []
        self.stacked = None
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}"
            layer = {name: w.get(f"{p}.{name}.weight") for name in ("input_layernorm", "post_attention_layernorm")}
            for proj in ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm"):
                layer[proj] = w.get(f"{p}.self_attn.{proj}.weight")
            moe = i not in mlp_only and self.num_experts > 0 and (i + 1) % sparse_step == 0
            layer["moe"] = moe
            if moe:
                layer["gate"] = w.get(f"{p}.mlp.gate.weight")
                if w.has(f"{p}.mlp.experts.gate_up_proj"):
                    self.stacked = True
                    layer["gate_up"] = w.get(f"{p}.mlp.experts.gate_up_proj")
                    layer["down"] = w.get(f"{p}.mlp.experts.down_proj")
                else:
                    self.stacked = False
                    layer["experts"] = [
                        tuple(w.get(f"{p}.mlp.experts.{e}.{n}.weight") for n in ("gate_proj", "up_proj", "down_proj"))
                        for e in range(self.num_experts)
                    ]
            else:
                layer["dense"] = tuple(w.get(f"{p}.mlp.{n}.weight") for n in ("gate_proj", "up_proj", "down_proj"))
            self.layers.append(layer)
        self.inv_freq = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, self.head_dim, 2, dtype=torch.int64).float() / self.head_dim))
        self.sdpa = hasattr(F, "scaled_dot_product_attention")

    def rope(self, positions):
        freqs = positions[:, None].float() * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos()[None, None], emb.sin()[None, None]

    def attention(self, layer, x, cos, sin, cache, i):
        B, T, _ = x.shape
        q = F.linear(x, layer["q_proj"]).view(B, T, self.heads, self.head_dim)
        k = F.linear(x, layer["k_proj"]).view(B, T, self.kv_heads, self.head_dim)
        v = F.linear(x, layer["v_proj"]).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
        q = rms_norm(q, layer["q_norm"], self.eps).transpose(1, 2)
        k = rms_norm(k, layer["k_norm"], self.eps).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache[i] is not None:
            k = torch.cat((cache[i][0], k), dim=2)
            v = torch.cat((cache[i][1], v), dim=2)
        cache[i] = (k, v)
        groups = self.heads // self.kv_heads
        if groups > 1:  # repeat_kv
            S = k.shape[2]
            k = k[:, :, None].expand(B, self.kv_heads, groups, S, self.head_dim).reshape(B, self.heads, S, self.head_dim)
            v = v[:, :, None].expand(B, self.kv_heads, groups, S, self.head_dim).reshape(B, self.heads, S, self.head_dim)
        S = k.shape[2]
        past = S - T
        if self.sdpa and (past == 0 or T == 1):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1)
        else:
            scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
            if T > 1:
                allowed = torch.arange(S)[None, :] <= (past + torch.arange(T))[:, None]
                scores = scores.masked_fill(~allowed, float("-inf"))
            probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
            out = torch.matmul(probs, v)
        out = out.transpose(1, 2).reshape(B, T, self.heads * self.head_dim)
        return F.linear(out, layer["o_proj"])

    def moe(self, layer, x, captured):
        B, T, H = x.shape
        flat = x.view(-1, H)
        router_logits = F.linear(flat, layer["gate"])
        probs = torch.softmax(router_logits, dim=1, dtype=torch.float)
        weights, chosen = torch.topk(probs, self.top_k, dim=-1)
        if self.norm_topk:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        captured.append((router_logits, chosen))
        out = torch.zeros_like(flat)
        # The transformers loop: only experts that received a token run, one Python iteration each.
        mask = F.one_hot(chosen, num_classes=self.num_experts).permute(2, 1, 0)
        hit = torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero()
        for row in hit:
            e = int(row[0])
            slot, tokens = torch.where(mask[e])
            h = flat[tokens]
            if self.stacked:
                gate, up = F.linear(h, layer["gate_up"][e]).chunk(2, dim=-1)
                h = F.linear(F.silu(gate) * up, layer["down"][e])
            else:
                g, u, d = layer["experts"][e]
                h = F.linear(F.silu(F.linear(h, g)) * F.linear(h, u), d)
            out.index_add_(0, tokens, h * weights[tokens, slot, None])
        return out.view(B, T, H)

    def forward(self, ids, cache, past, split=None):
        """
        ids [1, T] after `past` cached positions; returns last-position logits and each MoE layer's routing.
        With a `split` dict, adds the seconds spent in attention and in the MoE blocks (CPU ops run eagerly, so
        wall-clock stamps around them are exact).
        """
        clock = time.perf_counter if split is not None else (lambda: 0.0)
        T = ids.shape[1]
        x = F.embedding(ids, self.embed)
        cos, sin = self.rope(torch.arange(past, past + T))
        captured = []
        attn = moe = 0.0
        for i, layer in enumerate(self.layers):
            h = rms_norm(x, layer["input_layernorm"], self.eps)
            t = clock()
            x = x + self.attention(layer, h, cos, sin, cache, i)
            attn += clock() - t
            h = rms_norm(x, layer["post_attention_layernorm"], self.eps)
            if layer["moe"]:
                t = clock()
                x = x + self.moe(layer, h, captured)
                moe += clock() - t
            else:
                g, u, d = layer["dense"]
                x = x + F.linear(F.silu(F.linear(h, g)) * F.linear(h, u), d)
        last = rms_norm(x[:, -1:], self.norm, self.eps)
        if split is not None:
            split["attention"] = split.get("attention", 0.0) + attn
            split["moe"] = split.get("moe", 0.0) + moe
        return F.linear(last, self.lm_head)[0, -1], captured


def set_threads(n):
    torch.set_num_threads(n)
    # Debian's torch runs its matmuls in OpenBLAS, whose pthread pool is sized apart from torch's OpenMP one.
    for lib in ("libopenblas.so.0", "libopenblas.so"):
        try:
            ctypes.CDLL(lib).openblas_set_num_threads(n)
            return lib
        except (OSError, AttributeError):
            continue
    return None


def serve(model):
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            cmd = req.get("cmd")
            if cmd == "info":
                ans = {
                    "torch": torch.__version__,
                    "attention": "sdpa" if model.sdpa else "eager",
                    "experts": "stacked gate_up_proj" if model.stacked else "per-expert modules",
                    "layers": len(model.layers),
                    "vocab": model.vocab,
                    # GNU OpenMP spins (active wait) unless told otherwise: on shared cores that decides 2-thread speed.
                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset (active spin)"),
                }
            elif cmd == "threads":
                blas = set_threads(int(req["n"]))
                ans = {"threads": torch.get_num_threads(), "openblas": blas}
            elif cmd == "prefill":
                ids = torch.tensor([req["ids"]], dtype=torch.int64)
                split = {} if req.get("split") else None
                with torch.no_grad():
                    t = time.perf_counter()
                    logits, captured = model.forward(ids, [None] * len(model.layers), 0, split)
                    ms = (time.perf_counter() - t) * 1000
                ans = {"ms": ms}
                if split is not None:
                    ans["split_ms"] = {k: v * 1000 for k, v in split.items()}
                if req.get("check"):
                    ans["experts"] = [c.flatten().tolist() for _, c in captured]
                    ans["router_logits"] = [r.flatten().tolist() for r, _ in captured]
                    ans["logits"] = logits.tolist()
            elif cmd == "decode":
                ids = torch.tensor([req["prompt"]], dtype=torch.int64)
                cache = [None] * len(model.layers)
                times, tokens = [], []
                with torch.no_grad():
                    logits, _ = model.forward(ids, cache, 0)
                    past = ids.shape[1]
                    for _ in range(int(req["steps"])):
                        nxt = int(torch.argmax(logits))  # first maximum on ties, as Routescope's greedy pick
                        tokens.append(nxt)
                        t = time.perf_counter()
                        logits, _ = model.forward(torch.tensor([[nxt]]), cache, past)
                        times.append((time.perf_counter() - t) * 1000)
                        past += 1
                ans = {"ms": times, "tokens": tokens}
            else:
                ans = {"error": f"unknown command {cmd!r}"}
        except (ModelError, KeyError, ValueError, RuntimeError) as err:
            ans = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(ans), flush=True)


def main():
    args = sys.argv[1:]
    if len(args) != 2 or args[0] != "--serve":
        print("usage: moe_forward.py --serve MODEL_DIR", file=sys.stderr)
        sys.exit(2)
    torch.set_grad_enabled(False)
    try:
        model = Qwen3Moe(args[1])
    except (ModelError, OSError, KeyError, ValueError) as err:
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}), flush=True)
        sys.exit(1)
    print(json.dumps({"ready": True}), flush=True)
    serve(model)


if __name__ == "__main__":
    main()
