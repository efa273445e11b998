from tests.rabbitmq_server import rabbitmq as rabbitmq
