"""Settings for HTTP rule actions, nested into the server's settings as `actions` (FRONTDESK_ACTIONS__*).

Kept apart from bot/http_action.py so that reading settings stays a light import.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from bot import netguard


class ActionSettings(BaseModel):
    """Where HTTP actions may connect, and how long and how much they may read."""

    allow_private_networks: bool = Field(
        default=False, description="Let actions call loopback, private (RFC 1918), CGNAT and ULA addresses "
        "(tests, on-prem). Metadata/link-local addresses stay refused.")
    allow_networks: list[str] = Field(default_factory=list, description="CIDRs actions may always call.")
    allow_hosts: list[str] = Field(default_factory=list, description="Host names actions may always call.")
    max_total_seconds: float = Field(default=20.0, gt=0, le=120, description="One action, retries included.")
    max_response_bytes: int = Field(default=1_000_000, ge=1, le=50_000_000)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        netguard.parse_networks(values)  # a ValueError names the bad one
        return values

    def policy(self) -> netguard.NetPolicy:
        """The network policy these settings describe."""
        return netguard.NetPolicy(
            self.allow_private_networks, netguard.parse_networks(self.allow_networks),
            frozenset(h.strip().lower().rstrip(".") for h in self.allow_hosts if h.strip()),
        )
