"""The gateway's live-server fixtures (every provider pointed at its fake), shared from tests/gateway."""
from tests.gateway.conftest import _fake_servers, fakes, gateway_settings, make_gateway  # noqa: F401
