"""Deploy gpt-oss on Ollama to Linux workstations with pyinfra, behind an authenticating nginx front.

    pyinfra inventories/workstation.py deploy_ollama.py                 # install, serve, pull, wait
    pyinfra inventories/workstation.py deploy_ollama.py --dry           # what would change
    pyinfra inventories/workstation.py deploy_ollama.py --data ollama_context_length=32768

What each host gets is decided by the Ollama plan (serving/ollama.py, `gptoss plan --runtime ollama`) from
its `ollama_*` host data; the front's port and key come from `front_*` (roles/front.py). Clients use
http://<host>:<front_port>/v1 with the key as their API key; Ollama itself listens on 127.0.0.1 only.
"""

from roles.ollama import serve_ollama

serve_ollama()
