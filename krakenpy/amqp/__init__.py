"""AMQP 0-9-1 (RabbitMQ) for ``async/amqp`` agents and the ``backend/amqp/*`` backends, on aiormq:
imported only by the components' builders, so a configuration without AMQP never loads it."""
