"""``ai/mcp``: krakenpy as an MCP server whose tools are workflows of KrakenD backends."""
