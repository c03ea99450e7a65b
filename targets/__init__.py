"""Targets: the serving plan rendered for a platform.

`targets.systemd` turns a plan into systemd units and env files for a host laid out as `HostLayout` says;
`targets.kubernetes` turns it into Kubernetes objects (dicts) and YAML. The deploy tools (`roles/` for
pyinfra, `infra/` for Pulumi) only carry these artifacts out. Targets import the plan (`serving`) and
nothing else of the project.
"""
