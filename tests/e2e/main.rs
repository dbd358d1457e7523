mod support;
mod mcp;
mod registry;
mod sandbox;
