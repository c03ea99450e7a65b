"""pyinfra deploy for tests/e2e/test_ollama_front.py: the authenticating front the Ollama role deploys
(roles/front.py, the same site and key map), put in front of the vLLM engine on the test host. vLLM checks
the same key itself, so the front hands the Authorization header on; Ollama gets none.

    pyinfra inventories/testbed.py tests/e2e/deploy_vllm_front.py --data front_port=8443 \\
        --data front_api_key_file=~/.cache/gptoss/testbed/api-key
"""

from roles.front import authenticating_front

authenticating_front("vllm", upstream_port=8000, health_path="/health", forward_authorization=True)
