"""``backend/amqp/*``: RabbitMQ instead of an HTTP call."""
