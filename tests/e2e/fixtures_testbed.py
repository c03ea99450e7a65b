"""Fixtures that boot the disposable systemd-nspawn test host."""
