"""The Kubernetes target: a serving plan as Kubernetes objects (plain dicts) and as YAML with a kustomization.

`settings` holds the cluster-side settings and their validation, `config` the typed keys they are read from
(shared with the Pulumi stack config), `objects` the one builder, `scripts` what containers run, `yaml` the
files `gptoss render k8s` writes. Pulumi (`infra/`) registers exactly what `build_objects` returns.
"""

from targets.kubernetes.config import CONFIG_KEYS, ConfigError, plan_request, settings_from_values
from targets.kubernetes.objects import build_objects, object_key, service_url
from targets.kubernetes.settings import K8S_PATHS, K8sSettings, SecretRef, SettingsError, for_kubernetes
from targets.kubernetes.yaml import default_settings, read_objects, write_kubernetes

__all__ = [
    "CONFIG_KEYS",
    "K8S_PATHS",
    "ConfigError",
    "K8sSettings",
    "SecretRef",
    "SettingsError",
    "build_objects",
    "default_settings",
    "for_kubernetes",
    "object_key",
    "plan_request",
    "read_objects",
    "service_url",
    "settings_from_values",
    "write_kubernetes",
]
