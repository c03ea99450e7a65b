"""Deploy gpt-oss on vLLM to bare-metal hosts with pyinfra.

    pyinfra inventories/gpu.py deploy.py                  # real GPU hosts (see inventories/gpu.py)
    pyinfra inventories/testbed.py deploy.py -y           # the disposable systemd test host (cpu profile)
    pyinfra inventories/gpu.py deploy.py --data vllm_max_model_len=65536
    pyinfra inventories/gpu.py deploy.py --data monitoring_enabled=True   # and Prometheus for the fleet

What each host gets is decided by the serving plan (serving/) from its `vllm_*` host data; the roles in
roles/ only carry it out. Several engines on one host listen on consecutive ports (vllm_port, +1, ...),
one OpenAI-compatible endpoint each: put a load balancer in front (any round-robin HTTP balancer; vLLM
engines are stateless between requests) or list every base URL in the client.

With `monitoring_enabled` (roles/monitoring.py), every host also gets Debian's node exporter and one host
(`monitoring_prometheus_host`, default the first) Prometheus scraping every engine of the inventory with
the fleet's alert rules.
"""

from pyinfra import host

from roles.monitoring import monitoring_enabled, watch_gptoss
from roles.serve import serve_gptoss

serve_gptoss()
if monitoring_enabled(host.data):
    watch_gptoss()
