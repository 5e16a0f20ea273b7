"""Regenerates the REF_* constants of test/analysis/plans.test.ts (and the thr-1 totals of
test/analysis/specialisation.test.ts) by running the reference implementation's OWN plan functions on the real
Qwen3-30B-A3B MGSM routing, with torch on the CPU and vLLM and the data loaders stubbed out (only the plan
functions run; they need torch alone). See README.md for the versions.

    git clone https://github.com/conctsai/Multilingualism-in-Mixture-of-Experts-LLMs /tmp/moe-ref
    git -C /tmp/moe-ref checkout ea1d65b
    /usr/bin/python3 tools/reference-torch/reference_plans.py /tmp/moe-ref ../shared/fixtures/qwen3-30b-a3b-mgsm-routing

The reference lists the routing folder with os.listdir, whose order sets the float32 summation order of the share
denominators (aggregate and masking modes). The tests' facts were taken in the order bn, es, ja, sw, fr, zh, de, en
(the order os.listdir gave on the machine of the first run); this script fixes os.listdir to that order so the
output does not depend on the file system.
"""
import argparse
import importlib.util
import json
import os
import sys
import tempfile
import types

ORDER = ["bn", "es", "ja", "sw", "fr", "zh", "de", "en"]


def stub_modules():
    """The plan functions never call these; the scripts import them at the top."""
    def mod(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    unused = lambda *a, **k: None  # noqa: E731
    mod("vllm", LLM=unused, SamplingParams=unused)
    mod("langdetect", detect_langs=unused, DetectorFactory=types.SimpleNamespace(seed=0))
    mod("dataloader", load_polymath_dataset=unused, load_mgsm_dataset=unused)
    mod("transformers", AutoTokenizer=types.SimpleNamespace(from_pretrained=unused))
    mod("externel")
    mod("externel.PolyMath")
    mod("externel.PolyMath.instruction", query_dic={})
    mod("externel.PolyMath.eval")
    mod("externel.PolyMath.eval.scripts", math_equal=unused)


def load(repo, rel):
    spec = importlib.util.spec_from_file_location(rel.replace("/", "_")[:-3], os.path.join(repo, rel))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("repo", help="checkout of conctsai/Multilingualism-in-Mixture-of-Experts-LLMs (commit ea1d65b)")
    ap.add_argument("fixture", help="folder with mgsm_<lang>.json (../shared/fixtures/qwen3-30b-a3b-mgsm-routing)")
    a = ap.parse_args()
    import contextlib

    import torch

    stub_modules()
    steer = load(a.repo, "steer/vllm_steer_polymath.py")
    interv = load(a.repo, "intervention/vllm_intervention_mgsm.py")
    real_listdir = os.listdir
    fixture = os.path.abspath(a.fixture)
    # The masking script names languages by file stem ({lang}.json), so it reads a folder of links with those names.
    by_lang = tempfile.mkdtemp(prefix="moe-ref-langs-")
    for lang in ORDER:
        os.symlink(os.path.join(fixture, f"mgsm_{lang}.json"), os.path.join(by_lang, f"{lang}.json"))
    listed = {fixture: [f"mgsm_{l}.json" for l in ORDER], by_lang: [f"{l}.json" for l in ORDER]}
    os.listdir = lambda d: listed.get(os.path.abspath(d)) or real_listdir(d)

    def steer_args(targets, thr, shared):
        return types.SimpleNamespace(input_dir=fixture, pattern="mgsm_{lang}.json", target_lang=targets, k=20, thr=thr,
                                     steer_start_layer=10, steer_end_layer=39, shared=shared)

    def mask_args(target, shared, a0, a1, k=15, thr=0.4):
        return types.SimpleNamespace(input_dir=by_lang, target_lang=target, k=k, thr=thr,
                                     start_layer=a0, end_layer=a1, shared=shared)

    def counts(d):
        return [len(d.get(str(l), {})) for l in range(10, 40)]

    out = {"torch": torch.__version__, "order": ORDER}
    quiet = contextlib.redirect_stdout(sys.stderr)  # the reference prints "Processed <lang>" per file
    quiet.__enter__()
    shared = steer.get_target_shared_experts(steer_args("en,zh", 0.7, True))
    out["REF_SHARED_EN_ZH_COUNTS"] = counts(shared)
    # the reference writes steer_data.json with json.dump(..., indent=4); the test holds layer 10's block of it
    text = json.dumps({"lambda": 0.022, "steer_dict": shared}, indent=4)
    start = text.index('"10": {')
    out["REF_SHARED_EN_ZH_L10"] = text[start:text.index("\n        }", start) + len("\n        }")]
    out["REF_SHARED_L25"] = [int(e) for e in shared["25"]]
    out["REF_SHARED_L36"] = [int(e) for e in shared["36"]]
    out["zh,en experts equal en,zh"] = {l: list(r) for l, r in steer.get_target_shared_experts(steer_args("zh,en", 0.7, True)).items()} == {l: list(r) for l, r in shared.items()}
    agg = steer.aggregate_experts(steer_args("en,zh", 0.7, False))
    out["REF_AGG_COUNTS"] = counts(agg)
    out["REF_AGG_L10"] = [int(e) for e in agg["10"]]
    out["REF_AGG_L36"] = [int(e) for e in agg["36"]]
    out["REF_AGG_L11_E123"] = agg["11"]["123"]
    out["REF_MASK_SW_0_4"] = interv.ablation_experts(mask_args("sw", False, 0, 4))
    shared_mask = interv.ablation_experts(mask_args("", True, 22, 26))
    out["REF_MASK_SHARED_22_26_COUNTS"] = [len(shared_mask.get(str(l), [])) for l in range(22, 27)]
    out["REF_MASK_SHARED_L22"] = shared_mask["22"]
    # thr 1 (specialisation.test.ts): shared mask over all 48 layers at k 15, and shared-mode steering en,zh at k 20
    out["SHARED_MASK_K15_THR1"] = sum(len(v) for v in interv.ablation_experts(mask_args("", True, 0, 47, 15, 1.0)).values())
    out["STEER_EN_ZH_K20_THR1"] = sum(len(v) for v in steer.get_target_shared_experts(steer_args("en,zh", 1.0, True)).values())
    quiet.__exit__(None, None, None)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
