"""What diffusers expects of a `train.sd_lora` artifact's `pytorch_lora_weights.safetensors`.

Without arguments: writes stages/tests/fixtures/sd/sd_tiny_lora_names.json, the tensor
names and shapes diffusers itself saves for a rank-4 LoRA on pipelines/assets/sd-tiny's
U-Net targeting to_q/to_k/to_v/to_out.0 (a PEFT adapter, `get_peft_model_state_dict`,
`convert_state_dict_to_diffusers`, `StableDiffusionPipeline.save_lora_weights`: what
diffusers' train_text_to_image_lora.py does). stages/tests/sd_generator.rs compares our
file's names and shapes against it, so CI needs no Python.

With `--check DIR` (a train.sd_lora output folder): loads DIR/sd as a
StableDiffusionPipeline, then DIR/pytorch_lora_weights.safetensors with
`pipe.load_lora_weights`, and checks that every targeted projection got an adapter and
that each adapter's ΔW (peft's `get_delta_weight`) equals ours from DIR/lora.safetensors
(Burn naming: W [in, out] + (α/r)·A·B). Prints the largest difference.

Setup: python3 -m venv /work/venv && /work/venv/bin/pip install torch diffusers
transformers peft safetensors; then
    /work/venv/bin/python bench/reference/sd_lora_diffusers.py [--check DIR]
"""

import json
import os
import sys
import tempfile

import torch
from diffusers import StableDiffusionPipeline
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from safetensors import safe_open
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDER = os.path.join(HERE, "..", "..", "pipelines", "assets", "sd-tiny")
FIXTURE = os.path.join(HERE, "..", "..", "stages", "tests", "fixtures", "sd", "sd_tiny_lora_names.json")
TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
RANK = 4


def names_and_shapes(path):
    with safe_open(path, "pt") as f:
        return {name: list(f.get_slice(name).get_shape()) for name in f.keys()}


def write_fixture():
    pipe = StableDiffusionPipeline.from_pretrained(FOLDER, safety_checker=None)
    pipe.unet.add_adapter(LoraConfig(r=RANK, lora_alpha=RANK, init_lora_weights="gaussian", target_modules=TARGETS))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    with tempfile.TemporaryDirectory() as tmp:
        StableDiffusionPipeline.save_lora_weights(tmp, unet_lora_layers=layers, safe_serialization=True)
        tensors = names_and_shapes(os.path.join(tmp, "pytorch_lora_weights.safetensors"))
    with open(FIXTURE, "w") as f:
        json.dump({"rank": RANK, "tensors": dict(sorted(tensors.items()))}, f, indent=1)
        f.write("\n")
    print(f"{len(tensors)} tensors -> {FIXTURE}")


def check(artifact):
    with open(os.path.join(artifact, "generator.json")) as f:
        lora = json.load(f)["spec"]["sd"]["lora"]
    scale = lora["alpha"] / lora["rank"]
    pipe = StableDiffusionPipeline.from_pretrained(os.path.join(artifact, "sd"), safety_checker=None)
    pipe.load_lora_weights(artifact, weight_name="pytorch_lora_weights.safetensors")
    ours = load_file(os.path.join(artifact, "lora.safetensors"))
    adapted = {name: m for name, m in pipe.unet.named_modules() if hasattr(m, "lora_A") and len(m.lora_A) > 0}
    targeted = [n for n, _ in pipe.unet.named_modules() if any(n.endswith("." + t) for t in TARGETS)]
    missing = sorted(set(targeted) - set(adapted))
    assert not missing, f"projections diffusers left without an adapter: {missing[:5]}"
    assert len(adapted) * 2 == len(ours), f"{len(adapted)} adapted modules, {len(ours)} factors of ours"
    worst = 0.0
    for name, module in adapted.items():
        adapter = module.active_adapters[0]
        theirs = module.get_delta_weight(adapter)  # [out, in]
        a, b = ours[f"{name}.weight.lora.a"], ours[f"{name}.weight.lora.b"]  # [in, r], [r, out]
        mine = (scale * (a @ b)).T
        worst = max(worst, (theirs - mine).abs().max().item())
    print(f"{len(adapted)} adapters loaded by diffusers; largest |ΔW diffusers − ΔW ours| = {worst:.3g}")
    assert worst < 1e-6, worst


if __name__ == "__main__":
    torch.manual_seed(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        write_fixture()
