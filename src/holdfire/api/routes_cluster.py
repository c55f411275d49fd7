"""The cluster as this node sees it: itself, and every node it has heard from (admin)."""

from typing import Any

from fastapi import APIRouter, Response

from holdfire.api.auth import Ctx, MaySeeCluster
from holdfire.api.responses import json_response
from holdfire.api.routes_picture import ERRORS
from holdfire.codecs.cluster import NodeStatus, node_status_to_dict

router = APIRouter()


def _node(status: NodeStatus, silent_s: float, *, this: bool, coordinator: str) -> dict[str, Any]:
    return {
        **node_status_to_dict(status),
        "this_node": this,
        "coordinator": status.node == coordinator,
        "silent_s": round(silent_s, 1),
    }


@router.get(
    "/cluster",
    summary="The nodes of the cluster, their state and how far behind the stream they are",
    responses=ERRORS,
)
async def cluster(ctx: Ctx, _: MaySeeCluster) -> Response:
    """`state`: starting, catching-up, ready or cut-off (as the node last said); `lag`: stream
    messages it had not applied; `silent_s`: seconds since it was last heard (a node silent
    for longer than a few heartbeats is down or cut off). A server started without `--nats`
    is no cluster: `clustered` is false and `nodes` is empty."""
    link = ctx.cluster
    if link is None:
        return json_response({"clustered": False, "node": None, "stream": None, "nodes": []})
    now = ctx.service.clock.now()
    own, coordinator = link.status(), link.coordinator()
    nodes = [_node(own, 0.0, this=True, coordinator=coordinator)]
    nodes += [
        _node(status, (now - heard).total_seconds(), this=False, coordinator=coordinator)
        for status, heard in link.heard()
    ]
    return json_response(
        {
            "clustered": True,
            "node": link.node,
            "nats": link.url,
            "stream": {"name": link.stream_name, "last_seq": link.stream_last},
            "nodes": nodes,
        }
    )
