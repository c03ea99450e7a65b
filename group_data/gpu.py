"""Host data for the `gpu` group of inventories/gpu.py: an example for real GPU servers.

Every key is optional (defaults: roles/settings.py DEFAULTS); per-host values go in the inventory.
"""

# What to serve and on what: the serving plan decides tensor parallelism, engines per host and flags.
vllm_model = "gpt-oss-120b"
vllm_accelerator = "h100"  # must match `nvidia-smi --query-gpu=name` (preflight refuses otherwise)
vllm_gpus = 8
vllm_goal = "throughput"  # 8 GPUs -> 8 engines of TP 1 on ports 8000-8007; "latency" -> one TP 8 engine
vllm_max_model_len = None  # the model's full 131072 context

# Secrets stay on the control machine and land in 0600 root files on the hosts.
vllm_api_key_file = "~/.config/gptoss/api-key"
vllm_hf_token_file = None  # gpt-oss is not gated; set a token file for a private mirror

# Packages: PyPI by default. Air-gapped: a wheelhouse on each host and vllm_offline = True.
vllm_index_url = None
vllm_find_links = None
vllm_offline = False

# Weights: downloaded into /var/lib/gptoss/hf with the HF CLI. Or stage them yourself and point here:
# vllm_model_source = "/data/models/gpt-oss-120b"

vllm_smoke = True  # run `gptoss smoke` from the control machine after each (re)start
