//! What several engine test files share: a small routed host and a packet to it.

/// A node with two interfaces, forwarding on, a default route out of eth0.
pub(crate) const HOST: &str = "forwarding: true
interfaces:
  - name: lo
    addresses: [127.0.0.1/8]
  - name: eth0
    addresses: [10.0.0.2/24]
  - name: eth1
    addresses: [10.1.0.2/24]
routes:
  - to: default
    via: 10.0.0.1
    dev: eth0
";

/// A TCP packet arriving on eth0 for the node's own address.
#[allow(dead_code)]
pub(crate) const TO_LOCAL: &str = "-p tcp -s 10.0.0.9 --sport 1000 -d 10.0.0.2 --dport 22 -i eth0";
