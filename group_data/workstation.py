"""Host data for the `workstation` group of inventories/workstation.py: an example for Ollama hosts.

Every key is optional (defaults: roles/ollama_settings.py and roles/front.py DEFAULTS).
"""

# What to serve on what: the Ollama plan sizes the context and parallel slots to the memory.
ollama_model = "gpt-oss-20b"
ollama_accelerator = "rtx4090"  # the machine's GPU, a catalog key (`gptoss plan --help`)
ollama_host_memory_gib = 64  # the RAM, so the plan can check what would be offloaded to the CPU

# Ollama has no API keys: the nginx front checks this one (kept on the control machine, 0600 root on the host).
front_api_key_file = "~/.config/gptoss/api-key"
front_port = 11435  # clients use http://<host>:11435/v1; Ollama stays on 127.0.0.1:11434

# Air-gapped hosts: stage the release archive and point at it (its sha256 is checked all the same).
# ollama_archive_file = "/srv/ollama/ollama-linux-amd64.tar.zst"

ollama_smoke = True  # run `gptoss smoke --profile ollama` through the front after each (re)start
