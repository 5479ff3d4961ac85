//! Synthetic clusters for benchmarks: a reproducible, realistic mix of Services and
//! EndpointSlices.

use crate::objects::Cluster;
use serde_json::{Value, json};

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Builds `n_services` Services with `n_endpoints` endpoints each (one EndpointSlice
/// per Service, IPv4), reproducibly from `seed`. The mix: about 60% ClusterIP, 20%
/// NodePort, 20% LoadBalancer (half of those with externalTrafficPolicy Local and a
/// health-check node port, some with loadBalancerSourceRanges), 10% with ClientIP
/// session affinity, 5% with an external IP, 5% with internalTrafficPolicy Local;
/// endpoints spread over 20 nodes (`node-0` … `node-19`), about 5% terminating.
pub fn synthetic_cluster(n_services: usize, n_endpoints: usize, seed: u64) -> Cluster {
    let mut rng = Rng(seed);
    let mut cluster = Cluster::default();
    let mut warnings = Vec::new();
    for i in 0..n_services {
        let ns = format!("ns{}", i % 100);
        let name = format!("svc{i}");
        let cluster_ip = format!("172.{}.{}.{}", 16 + (i >> 16) % 16, (i >> 8) & 255, i & 255);
        let kind = rng.below(10);
        let ty = match kind {
            0..=5 => "ClusterIP",
            6 | 7 => "NodePort",
            _ => "LoadBalancer",
        };
        let node_port = 30000 + (i % 2768) as i64;
        let mut port = json!({"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080});
        if ty != "ClusterIP" {
            port["nodePort"] = json!(node_port);
        }
        let mut ports = vec![port];
        if rng.below(10) == 0 {
            ports.push(json!({"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 53}));
        }
        let mut spec = json!({"type": ty, "clusterIP": cluster_ip, "ports": ports});
        if rng.below(10) == 0 {
            spec["sessionAffinity"] = json!("ClientIP");
            spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": 10800}});
        }
        if rng.below(20) == 0 {
            spec["externalIPs"] = json!([format!("192.0.2.{}", i % 250 + 1)]);
        }
        if rng.below(20) == 0 {
            spec["internalTrafficPolicy"] = json!("Local");
        }
        let mut status = json!({});
        if ty == "LoadBalancer" {
            status = json!({"loadBalancer": {"ingress": [{"ip": format!("203.0.{}.{}", (i >> 8) & 255, i & 255)}]}});
            if rng.below(2) == 0 {
                spec["externalTrafficPolicy"] = json!("Local");
                spec["healthCheckNodePort"] = json!(32000 + (i % 700) as i64);
            }
            if rng.below(4) == 0 {
                spec["loadBalancerSourceRanges"] = json!(["198.51.100.0/24", "10.0.0.0/8"]);
            }
        }
        let svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": ns, "name": name},
            "spec": spec, "status": status,
        });
        cluster.apply_value(svc, &mut warnings);

        let mut endpoints: Vec<Value> = Vec::with_capacity(n_endpoints);
        for e in 0..n_endpoints {
            let n = i * n_endpoints + e;
            let terminating = rng.below(20) == 0;
            endpoints.push(json!({
                "addresses": [format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)],
                "conditions": {"ready": !terminating, "serving": true, "terminating": terminating},
                "nodeName": format!("node-{}", rng.below(20)),
            }));
        }
        let slice = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": ns, "name": format!("{name}-abcde"),
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080},
                      {"name": "dns", "protocol": "UDP", "port": 53}],
        });
        cluster.apply_value(slice, &mut warnings);
    }
    cluster
}
