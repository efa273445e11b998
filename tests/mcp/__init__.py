"""ai/mcp: krakenpy as an MCP server."""
