"""The nginx target: an authenticating front (bearer key, loopback upstream) for servers without API keys."""

from targets.nginx.front import Front, FrontError, render_key_map, render_site, validate, validate_key

__all__ = ["Front", "FrontError", "render_key_map", "render_site", "validate", "validate_key"]
