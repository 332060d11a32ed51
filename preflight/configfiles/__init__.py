"""Config files read before anything runs: one parser module per format, each returning a typed
document (`model.ConfigDocument`) whose every value carries its file and line.

`rabbitmq_conf` (the sysctl-like new format), `erlang` (advanced.config, rabbitmq.config,
enabled_plugins), `envfile` (rabbitmq-env.conf, .env), `manifests` (docker-compose and Kubernetes,
through PyYAML's node API for line numbers); `load` recognises a file by name and content and
follows the config files a compose service mounts; `schema` answers which keys each RabbitMQ series
accepts, from tables derived from RabbitMQ's own schema files (`scripts/gen_config_schema.py`).
"""
