"""A small MCP server on loopback, built with the official SDK (MCPServer, the
SDK 2.x name of FastMCP) and served over Streamable HTTP by uvicorn in a
thread: the target of the demo client's McpPlugin in `make run`, and of the
mcp plugin's tests. Its tools are an order desk's: `order_status` answers from
a small table; `slow_lookup` sleeps first, `big_report` answers many bytes
(the tests' deadline and byte cap)."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

ORDERS = {
    "A-1001": "shipped on 2026-11-28 by parcel post, tracking NL-555-0101",
    "A-1002": "packed, leaves the warehouse on Monday",
    "A-1003": "cancelled at the customer's request, refunded",
}


def build(name: str = "order-desk") -> Any:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError  # its message reaches the caller (another exception's does not)

    server = MCPServer(name, instructions="Order desk tools.", log_level="WARNING")

    @server.tool(description="The shipping status of an order, by its number (such as A-1001).")
    def order_status(order_id: str) -> str:
        # An order number alone, or a sentence with one in it (what the offline provider sends).
        found = re.search(r"\b[A-Z]-\d{4}\b", order_id.upper())
        number = found.group(0) if found else order_id.strip().upper()
        status = ORDERS.get(number)
        if status is None:
            raise ToolError(f"no order {order_id!r}; known orders: {', '.join(ORDERS)}")
        return f"Order {number}: {status}"

    @server.tool(description="A lookup that takes its time (seconds).")
    def slow_lookup(seconds: float) -> str:
        time.sleep(min(float(seconds), 60.0))
        return "finally"

    @server.tool(description="A report of `size` bytes.")
    def big_report(size: int) -> str:
        return "x" * min(int(size), 50_000_000)

    return server


@dataclass
class RunningMcpServer:
    port: int
    server: Any
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start(port: int, *, json_response: bool = False, stateless: bool = False) -> RunningMcpServer:
    """Serve the order desk on 127.0.0.1:`port` until stop(); returns once it accepts connections."""
    import uvicorn

    app = build().streamable_http_app(json_response=json_response, stateless_http=stateless)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="mcp-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the MCP server did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    return RunningMcpServer(port, server, thread)
