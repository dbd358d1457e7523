mod support;
mod cli;
mod crawl;
mod grants;
mod mcp;
mod registry;
mod sandbox;
mod signatures;
