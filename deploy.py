"""Deploy gpt-oss on vLLM to bare-metal hosts with pyinfra.

    pyinfra inventories/gpu.py deploy.py                  # real GPU hosts (see inventories/gpu.py)
    pyinfra inventories/testbed.py deploy.py -y           # the disposable systemd test host (cpu profile)
    pyinfra inventories/gpu.py deploy.py --data vllm_max_model_len=65536

What each host gets is decided by the serving plan (serving/) from its `vllm_*` host data; the roles in
roles/ only carry it out. Several engines on one host listen on consecutive ports (vllm_port, +1, ...),
one OpenAI-compatible endpoint each: put a load balancer in front (any round-robin HTTP balancer; vLLM
engines are stateless between requests) or list every base URL in the client.
"""

from roles.serve import serve_gptoss

serve_gptoss()
