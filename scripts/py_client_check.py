"""Drive mcpgate's /mcp with the official Python SDK (PyPI `mcp` >= 2.3).

Its default `auto` mode first POSTs `server/discover` with protocol 2026-07-28 and falls back
to `initialize` on any error, so this checks both paths end to end.

    python3 -m venv /tmp/mcp-py && /tmp/mcp-py/bin/pip install mcp
    /tmp/mcp-py/bin/python scripts/py_client_check.py http://127.0.0.1:3003/mcp [TOOL ARGS_JSON]
"""

import asyncio
import json
import sys

from mcp import Client


async def main() -> int:
    url = sys.argv[1]
    async with Client(url) as client:
        tools = await client.list_tools()
        names = [t.name for t in tools.tools]
        print("tools:", ", ".join(names))
        if len(sys.argv) > 3:
            result = await client.call_tool(sys.argv[2], json.loads(sys.argv[3]))
            text = "".join(getattr(c, "text", "") for c in result.content)
            print("isError:", result.is_error if hasattr(result, "is_error") else result.isError)
            print("text:", text[:300])
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
