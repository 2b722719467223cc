"""The client is tested against the in-process gateway (``gateway``) and its populated world (``world``)."""

from tests.support.gateway_fixtures import gateway, world

__all__ = ["gateway", "world"]
