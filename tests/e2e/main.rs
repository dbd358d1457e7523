mod support;
mod cli;
mod mcp;
mod registry;
mod sandbox;
