"""streamproc: a real-time lead-lifecycle engine on Kafka."""

__version__ = "0.1.0"
