"""Example inventory of Linux workstations that serve gpt-oss with Ollama (not runnable here: no GPU and no
Ollama release on this machine).

    pyinfra inventories/workstation.py deploy_ollama.py
    pyinfra inventories/workstation.py deploy_ollama.py --limit ws-2 --data ollama_context_length=32768

Group data for all of them: group_data/workstation.py. Per-host data overrides it (a different GPU, more RAM).
"""

workstation = [
    ("ws-1.example.internal", {"ssh_user": "admin", "_sudo": True}),
    # A workstation with a 16 GB card: the plan gives it a 65536-token context and one slot.
    ("ws-2.example.internal", {"ssh_user": "admin", "_sudo": True, "ollama_accelerator": "rtx4080"}),
]
