from tests.streaming.support import nats_names  # noqa: F401  (fixture)
