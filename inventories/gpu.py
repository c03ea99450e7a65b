"""Example inventory of real GPU servers (not runnable here: no GPU on this machine).

    pyinfra inventories/gpu.py deploy.py                       # check, install, serve, wait, smoke
    pyinfra inventories/gpu.py deploy.py --dry                 # what would change
    pyinfra inventories/gpu.py deploy.py --limit gpu-a1 --data vllm_max_model_len=65536

Group data for all of them: group_data/gpu.py. Per-host data overrides it, e.g. a host with fewer GPUs.
Each host serves the same plan; several engines per host listen on ports 8000, 8001, ... (one endpoint
each): put a round-robin HTTP load balancer in front, or give clients every base URL.
"""

gpu = [
    ("gpu-a1.example.internal", {"ssh_user": "ubuntu", "_sudo": True}),
    ("gpu-a2.example.internal", {"ssh_user": "ubuntu", "_sudo": True}),
    # A 4-GPU host in the same group: the plan lays 4 engines out on it instead of 8.
    ("gpu-b1.example.internal", {"ssh_user": "ubuntu", "_sudo": True, "vllm_gpus": 4}),
]
