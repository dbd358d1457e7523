mod support;
mod cli;
mod grants;
mod mcp;
mod registry;
mod sandbox;
mod signatures;
