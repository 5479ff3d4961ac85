//! Object reading: bad objects are reported with kind/namespace/name and skipped,
//! the rest still renders; chain-name hashes match names found in the test data.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chainwalk_kubeproxy::names::{endpoint_chain, external_chain, firewall_chain, service_chain};
use chainwalk_kubeproxy::{Cluster, Proxier, ProxyConfig, canonical_order};

const OBJECTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {namespace: ns1, name: good}
spec: {clusterIP: 172.30.0.10, ports: [{name: p80, port: 80, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {namespace: ns1, name: noports}
spec: {clusterIP: 172.30.0.11}
---
apiVersion: v1
kind: Service
metadata: {namespace: ns1, name: badip}
spec: {clusterIP: 172.30.0.999, ports: [{port: 80, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {namespace: ns1, name: badproto}
spec: {clusterIP: 172.30.0.12, ports: [{name: a, port: 80, protocol: ICMP}, {name: b, port: 81, protocol: UDP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: ns1, name: good-1, labels: {kubernetes.io/service-name: good}}
addressType: IPv4
endpoints:
- addresses: [10.1.0.1]
- addresses: [10.1.0.bad]
ports: [{name: p80, port: 8080, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: ns1, name: orphan}
addressType: IPv4
endpoints: [{addresses: [10.1.0.2]}]
ports: [{name: p80, port: 8080, protocol: TCP}]
"#;

#[test]
fn bad_objects_are_reported_and_skipped() {
    let (cluster, warnings) = Cluster::from_objects(OBJECTS).expect("parse");
    let who: Vec<(String, String, String)> = warnings
        .iter()
        .map(|w| (w.kind.clone(), w.namespace.clone(), w.name.clone()))
        .collect();
    let has = |k: &str, n: &str| who.contains(&(k.to_string(), "ns1".to_string(), n.to_string()));
    assert!(has("Service", "noports"), "{warnings:?}");
    assert!(has("Service", "badip"), "{warnings:?}");
    assert!(has("Service", "badproto"), "{warnings:?}");
    assert!(has("EndpointSlice", "good-1"), "{warnings:?}");
    assert!(has("EndpointSlice", "orphan"), "{warnings:?}");
    assert_eq!(warnings.len(), 5, "{warnings:#?}");
    assert!(
        warnings
            .iter()
            .all(|w| !w.reason.is_empty() && !w.to_string().is_empty())
    );

    let out = Proxier::new(ProxyConfig::default()).sync(&cluster);
    let rules = canonical_order(&out.restore);
    // The good service renders with its one valid endpoint.
    assert!(rules.contains("--comment \"ns1/good:p80 -> 10.1.0.1:8080\" -j KUBE-SEP-"));
    assert!(!rules.contains("10.1.0.bad"));
    // The UDP port of the service with one bad port still renders (no endpoints: REJECT).
    assert!(rules.contains(
        "\"ns1/badproto:b has no endpoints\" -m udp -p udp -d 172.30.0.12 --dport 81 -j REJECT"
    ));
    assert!(!rules.contains("ns1/badproto:a"));
    assert!(!rules.contains("ns1/badip"));
    // The slice without a service label contributes nothing.
    assert!(!rules.contains("10.1.0.2"));
}

#[test]
fn json_list_input() {
    let text = r#"{"apiVersion":"v1","kind":"List","items":[
      {"apiVersion":"v1","kind":"Service","metadata":{"namespace":"default","name":"web"},
       "spec":{"clusterIP":"10.96.0.20","ports":[{"port":80,"protocol":"TCP"}]}},
      {"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"default","name":"p"}}]}"#;
    let (cluster, warnings) = Cluster::from_objects(text).expect("parse");
    assert_eq!(cluster.services.len(), 1);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].kind, "Pod");
}

#[test]
fn unparsable_text_is_an_error() {
    assert!(Cluster::from_objects("kind: [unclosed").is_err());
}

/// Names that appear in testdata (the example node's `node.rules` and the
/// conformance cases' `expected.rules`).
#[test]
fn chain_names_match_testdata() {
    assert_eq!(
        service_chain("default/hello-nginx", "tcp"),
        "KUBE-SVC-QV4NJDQ2TL4A6VRO"
    );
    assert_eq!(
        service_chain("default/kubernetes:https", "tcp"),
        "KUBE-SVC-NPX46M4PTMTKRN6Y"
    );
    assert_eq!(
        service_chain("kube-system/kube-dns:dns", "udp"),
        "KUBE-SVC-TCOU7JCQXEZGVUNU"
    );
    assert_eq!(
        service_chain("kube-system/kube-dns:dns-tcp", "tcp"),
        "KUBE-SVC-ERIFXISQEP7F7OF4"
    );
    assert_eq!(
        endpoint_chain("default/hello-nginx", "tcp", "10.244.0.6:80"),
        "KUBE-SEP-BF7GKAYFIIMLRAW5"
    );
    assert_eq!(
        endpoint_chain("default/hello-nginx", "tcp", "10.244.0.7:80"),
        "KUBE-SEP-5GV5FJNBRYEOQ7QB"
    );
    assert_eq!(
        endpoint_chain("default/kubernetes:https", "tcp", "192.168.49.2:8443"),
        "KUBE-SEP-VPILYQBSPPXYB66K"
    );
    assert_eq!(
        service_chain("ns1/svc1:p80", "tcp"),
        "KUBE-SVC-XPGD46QRK7WJZT7O"
    );
    assert_eq!(
        external_chain("ns2/svc2:p80", "tcp"),
        "KUBE-EXT-GNZBNJ2PO5MGZ6GT"
    );
    assert_eq!(
        firewall_chain("ns5/svc5:p80", "tcp"),
        "KUBE-FW-NUKIZ6OKUXPJNT4C"
    );
    assert_eq!(
        endpoint_chain("ns5/svc5:p80", "tcp", "10.180.0.3:80"),
        "KUBE-SEP-I77PXRDZVX7PMWMN"
    );
    assert_eq!(
        endpoint_chain("ns1/svc1:p80", "tcp", "[fd00:10:180::1]:80"),
        "KUBE-SEP-OGYCNMB4EMRUSJ6N"
    );
}
