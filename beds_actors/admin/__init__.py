"""The admin command path: status, scale, swap and shutdown, sent over AMQP to every node."""
