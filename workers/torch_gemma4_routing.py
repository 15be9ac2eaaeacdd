#!/usr/bin/python3
"""The torch fallback of Gemma-4's MoE router (sglang gemma4_causal.py, spec gemma4-kvcache-speculative.md
§1.4 "Torch fallback (S2)") as a lockstep implementation of moe_routing:

    lockstep fuzz --op moe_routing --impl python:workers/torch_gemma4_routing.py --cases 500

    logits = gating.float(); _, ids = torch.topk(logits, K)
    w = softmax(logits.gather(ids), fp32) * scale[ids].float(); ids -> int32

Needs torch: Debian's python3-torch (CPU; scripts/setup.sh installs it), hence the `#!/usr/bin/python3`
line above - lockstep runs a worker with the interpreter its first line names (LOCKSTEP_PYTHON overrides),
and the project's .venv (jax, numpy 2) cannot import Debian's torch.
Capabilities: gating_output finite with distinct values in each row. torch.topk's order of equal values is
its own (undocumented; on CPU neither ascending nor stable: `topk(zeros(8), 4)` -> [6, 5, 4, 7]) and it
ranks NaN of either sign first and +0 equal to -0, where lockstep's routing order (decision 7, the fused
kernel's) sends ties to the lowest expert id, +0 above -0 and negative NaN last. Those inputs are outside
this fallback's contract, so they are not generated; every other case must match lockstep exactly (ids)
and within the derived fp32 bound (weights).
"""
import numpy as np
import torch

from lockstep_worker import op, set_name

set_name(f"torch-{torch.__version__}-gemma4_routing_fallback")
torch.set_num_threads(1)


@op("moe_routing", capabilities={"gating_output": ["finite", "distinct"]})
def run(case):
    gating = torch.from_numpy(np.ascontiguousarray(case["gating_output"]))
    scale = torch.from_numpy(np.ascontiguousarray(case["per_expert_scale"]))
    k = int(case["topk"])
    logits = gating.float()
    _, ids = torch.topk(logits, k, dim=-1)
    w = torch.softmax(logits.gather(1, ids), dim=-1, dtype=torch.float32)  # SOFTMAX over the K selected
    w = w * scale[ids].float()
    return {"topk_ids": ids.to(torch.int32).numpy(), "topk_weights": w.numpy()}
