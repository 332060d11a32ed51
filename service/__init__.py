"""The audit daemon around the one check pipeline: schedule, audit log, drift, health, systemd notify."""
