"""Host data for the `testbed` group (inventories/testbed.py): the cpu profile, offline.

The test host has no route out: Python packages come from the host's wheelhouse, bind-mounted read-only
at /srv/wheelhouse, and the tiny checkpoint is staged at /srv/models (both by `python -m testbed up`).
Everything not set here comes from roles/settings.py DEFAULTS.
"""

from pathlib import Path

vllm_model = "gpt-oss-tiny"
vllm_accelerator = "cpu"
vllm_gpus = 1
vllm_model_source = "/srv/models/gpt-oss-tiny-chat"
vllm_find_links = "/srv/wheelhouse"
vllm_offline = True
# The chat checkpoint answers and reasons but never calls tools (gpt-oss-tiny-tools does): smoke it with
# the checks that apply (the same set tests/e2e/test_smoke_real_vllm.py uses for it).
vllm_smoke_checks = "core,responses,security,load,openai_sdk"
# The control machine's key for the test endpoint (made 0600 by `scripts/demo` and the e2e tests).
vllm_api_key_file = str(Path.home() / ".cache" / "gptoss" / "testbed" / "api-key")
