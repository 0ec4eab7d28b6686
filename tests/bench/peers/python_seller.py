"""The benchmark's Python peer: the reference seller's get_products and create_media_buy on the
official Python framework (PyPI adcp==9.2.0, adcp.decisioning), state in memory.

Usage: python_seller.py PORT CATALOG_JSON

CATALOG_JSON is the reference seller's own get_products answer (the harness writes it), so the
three systems serve the same products. Only the harness runs this file.
"""

from __future__ import annotations

import itertools
import json
import sys
from datetime import datetime, timezone
from typing import Any

from adcp.decisioning import (
    AdcpError,
    DecisioningCapabilities,
    DecisioningPlatform,
    ExplicitAccounts,
    RequestContext,
    serve,
)
from adcp.decisioning.capabilities import Account as AccountCapabilities
from adcp.decisioning.capabilities import Adcp, IdempotencySupported
from adcp.decisioning.types import Account
from adcp.server import IdempotencyStore, MemoryBackend

PORT = int(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as f:
    PRODUCTS: list[dict[str, Any]] = json.load(f)

IDEMPOTENCY = IdempotencyStore(backend=MemoryBackend(), ttl_seconds=86400)


def _plain(v: Any) -> Any:
    """A request value as plain JSON data (the framework hands over pydantic models)."""
    if hasattr(v, "model_dump"):
        return v.model_dump(mode="json", exclude_none=True)
    return v


def _time(field: str, v: Any) -> datetime:
    v = _plain(v)
    if v == "asap" or v is None:
        return datetime.now(timezone.utc)
    try:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError as e:
        raise AdcpError("INVALID_REQUEST", message=str(e), field=field) from e


class BenchSeller(DecisioningPlatform):
    capabilities = DecisioningCapabilities(
        specialisms=["sales-non-guaranteed"],
        adcp=Adcp(
            major_versions=[3],
            idempotency=IdempotencySupported(supported=True, replay_ttl_seconds=86400),
        ),
        account=AccountCapabilities(supported_billing=["operator"]),
        pricing_models=["cpm"],
    )
    accounts = ExplicitAccounts(loader=lambda account_id: Account(id=account_id))

    def __init__(self) -> None:
        super().__init__()
        self.buys: dict[str, dict[str, Any]] = {}
        self.ids = itertools.count(1)

    def get_products(self, req: Any, ctx: RequestContext[Any]) -> dict[str, Any]:
        products = list(PRODUCTS)
        filters = _plain(getattr(req, "filters", None)) or {}
        if filters.get("delivery_type"):
            products = [p for p in products if p["delivery_type"] == filters["delivery_type"]]
        if filters.get("channels"):
            wanted = set(filters["channels"])
            products = [p for p in products if wanted & set(p.get("channels", []))]
        return {"products": products}

    @IDEMPOTENCY.wrap
    async def create_media_buy(self, req: Any, ctx: RequestContext[Any]) -> dict[str, Any]:
        start = _time("start_time", getattr(req, "start_time", None))
        end = _time("end_time", getattr(req, "end_time", None))
        if end <= start:
            raise AdcpError("INVALID_REQUEST", message="end_time must be after start_time", field="end_time")
        requested = [_plain(p) for p in (getattr(req, "packages", None) or [])]
        if not requested:
            raise AdcpError("INVALID_REQUEST", message="a media buy needs at least one package", field="packages")
        packages = []
        for i, p in enumerate(requested):
            product = next((x for x in PRODUCTS if x["product_id"] == p.get("product_id")), None)
            if product is None:
                raise AdcpError("PRODUCT_NOT_FOUND", message="no such product", field=f"packages[{i}].product_id")
            option = next(
                (o for o in product["pricing_options"] if o["pricing_option_id"] == p.get("pricing_option_id")),
                None,
            )
            if option is None:
                raise AdcpError(
                    "INVALID_REQUEST", message="no such pricing option", field=f"packages[{i}].pricing_option_id"
                )
            if not p.get("budget") or p["budget"] <= 0:
                raise AdcpError("INVALID_REQUEST", message="budget must be positive", field=f"packages[{i}].budget")
            packages.append(
                {
                    "package_id": f"pkg_{next(self.ids)}",
                    "product_id": product["product_id"],
                    "pricing_option_id": option["pricing_option_id"],
                    "budget": p["budget"],
                }
            )
        buy = {
            "media_buy_id": f"mb_{next(self.ids)}",
            "status": "pending_creatives",
            "confirmed_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "packages": packages,
        }
        self.buys[buy["media_buy_id"]] = buy
        return buy

    def update_media_buy(self, media_buy_id: str, patch: Any, ctx: RequestContext[Any]) -> dict[str, Any]:
        buy = self.buys.get(media_buy_id)
        if buy is None:
            raise AdcpError("MEDIA_BUY_NOT_FOUND", message="no such media buy", field="media_buy_id")
        return {"media_buy_id": media_buy_id, "status": buy["status"], "packages": buy["packages"]}

    def sync_creatives(self, req: Any, ctx: RequestContext[Any]) -> dict[str, Any]:
        creatives = [_plain(c) for c in (getattr(req, "creatives", None) or [])]
        return {"creatives": [{"creative_id": c["creative_id"], "action": "created"} for c in creatives]}

    def get_media_buy_delivery(self, req: Any, ctx: RequestContext[Any]) -> dict[str, Any]:
        return {"media_buy_deliveries": []}

    def get_media_buys(self, req: Any, ctx: RequestContext[Any]) -> dict[str, Any]:
        return {"media_buys": list(self.buys.values())}

    def list_creative_formats(self, req: Any, ctx: RequestContext[Any]) -> dict[str, Any]:
        return {"formats": []}

    def list_creatives(self, req: Any, ctx: RequestContext[Any]) -> dict[str, Any]:
        return {"creatives": []}

    def provide_performance_feedback(self, req: Any, ctx: RequestContext[Any]) -> dict[str, Any]:
        return {"success": True}


if __name__ == "__main__":
    serve(
        BenchSeller(),
        name="bench-seller",
        host="127.0.0.1",
        port=PORT,
        stateless_http=True,
        # The wire version the other two systems speak (the framework defaults to 3.2).
        adcp_version="3.0",
        auto_emit_completion_webhooks=False,
    )
