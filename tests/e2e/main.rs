mod support;
mod mcp;
mod registry;
