//! The node-side view (placeholder).
use crate::proxier::SyncOutput;
/// Tables.
#[derive(Debug, Default)]
pub struct NodeTables;
/// x
pub fn node_ruleset(_s: &[SyncOutput]) -> String {
    String::new()
}
/// x
pub fn iptables_save_form(s: &str) -> String {
    s.to_string()
}
