"""rabbitmq-preflight: find what will break a RabbitMQ cluster before `join_cluster` does."""

__version__ = "0.1.0"
