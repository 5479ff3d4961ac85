//! Synthetic clusters (placeholder).
use crate::objects::Cluster;
/// x
pub fn synthetic_cluster(_n: usize, _e: usize, _seed: u64) -> Cluster {
    Cluster::default()
}
