"""pyinfra inventory of the disposable systemd test host (`python -m testbed up` boots it).

    pyinfra inventories/testbed.py exec -- uname -a
    pyinfra inventories/testbed.py deploy.py

The key lives outside the repo and is made by `python -m testbed up`; the host is rebuilt on every boot,
so its host key is not pinned.
"""

from testbed.nspawn import SSH_HOST_ALIAS, TESTBED_ADDRESS, testbed_paths

testbed = [
    (
        SSH_HOST_ALIAS,
        {
            "ssh_hostname": TESTBED_ADDRESS,
            "ssh_user": "root",
            "ssh_key": str(testbed_paths().ssh_key),
            "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "no",
            "ssh_allow_agent": False,
            "ssh_look_for_keys": False,
        },
    )
]
