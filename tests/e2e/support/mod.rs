// Each test module uses part of the harness; unused helpers are not an error.
#[allow(dead_code)]
pub mod layout_writer;
#[allow(dead_code)]
pub mod registry;
#[allow(dead_code)]
pub mod signing;
#[allow(dead_code)]
pub mod token_server;
