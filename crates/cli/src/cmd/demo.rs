//! `chainwalk demo`: the article's three packets on the example node built into the binary.

use std::process::ExitCode;

use chainwalk_netfilter::eval::Simulator;
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::packet::parse_packets;
use chainwalk_report::json::outcome;
use chainwalk_report::trace_to_text;

use super::trace::{Format, labels, load_rules};

/// The example node's ruleset (kube-proxy, iptables mode, one nginx Service with two pods).
pub(crate) const NODE_RULES: &str = include_str!("../../../../testdata/example-node/node.rules");
/// The example node's interfaces, addresses and routes.
pub(crate) const NODE_HOST: &str = include_str!("../../../../testdata/example-node/host.yaml");

/// One demonstrated walk.
pub(crate) struct Walk {
    /// Short name.
    pub(crate) name: &'static str,
    /// What it shows.
    pub(crate) explanation: &'static str,
    /// The packet description, as `chainwalk trace` takes it.
    pub(crate) packet: &'static str,
}

/// The three walks of the example node's README.
pub(crate) const WALKS: [Walk; 3] = [
    Walk {
        name: "external client → ClusterIP",
        explanation: "A client outside the cluster (192.168.49.1) opens a TCP connection to the \
hello-nginx Service 10.100.29.239:80; the SYN arrives on eth0. nat PREROUTING sends it through \
KUBE-SERVICES to the Service chain; the source is outside the pod network 10.244.0.0/16, so \
KUBE-MARK-MASQ sets mark bit 0x4000. `-m statistic --mode random --probability 0.5` splits the \
flow exactly in two (the kernel stores 2^30/2^31): one half is DNATed to 10.244.0.6:80, the other \
to 10.244.0.7:80. The routing decision then sees a pod address and forwards the packet out of \
cni0; filter FORWARD accepts it because of the mark; nat POSTROUTING flips the bit off again \
(--set-xmark 0x4000/0x0 is an XOR) and MASQUERADE rewrites the source to cni0's address \
10.244.0.1 with a random port. The pod's reply is un-NATed by conntrack without the nat table.",
        packet: "-p tcp -s 192.168.49.1 --sport 40000 -d 10.100.29.239 --dport 80 -i eth0 --syn --then reply",
    },
    Walk {
        name: "local process → ClusterIP",
        explanation: "A process on the node connects to 10.100.29.239:80. The first route \
lookup goes by the default route via eth0, so the socket's source is 192.168.49.2. The same \
Service chains are reached through nat OUTPUT; after DNAT the kernel re-routes the packet, now \
out of cni0. The source is outside the pod network, so the packet was marked and is \
masqueraded to 10.244.0.1.",
        packet: "-p tcp --sport 40000 -d 10.100.29.239 --dport 80 --syn --then reply",
    },
    Walk {
        name: "pod → its own Service (hairpin)",
        explanation: "The pod 10.244.0.6 connects to the Service and, half of the time, is \
load-balanced to itself. The source is inside the pod network, so the Service chain does not \
mark; but the endpoint chain's first rule `-s 10.244.0.6/32 -j KUBE-MARK-MASQ` does when the pod \
reaches itself, so that packet is masqueraded to 10.244.0.1 and the reply comes back through \
the node. Sent to the other pod, it keeps its source.",
        packet: "-p tcp -s 10.244.0.6 --sport 35000 -d 10.100.29.239 --dport 80 -i cni0 --syn --then reply",
    },
];

/// Trace the article's packets on the example node (built in): an external client, a local
/// process and a pod, each connecting to the ClusterIP Service 10.100.29.239:80.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    print!("{}", render(args.format)?);
    Ok(ExitCode::SUCCESS)
}

/// The whole demo as text or JSON.
pub(crate) fn render(format: Format) -> anyhow::Result<String> {
    let ruleset = load_rules("example-node/node.rules", NODE_RULES)?;
    let host = Host::from_yaml(NODE_HOST)?;
    let sim = Simulator::new(&ruleset, &host);
    let mut text = String::new();
    let mut json = Vec::new();
    text.push_str(
        "The example node: a single-node Kubernetes cluster (kube-proxy in iptables mode).\n\
eth0 192.168.49.2/24 (gateway 192.168.49.1), bridge cni0 10.244.0.1/24 with the nginx pods\n\
10.244.0.6 and 10.244.0.7 behind the Service default/hello-nginx 10.100.29.239:80.\n",
    );
    for (i, w) in WALKS.iter().enumerate() {
        let args: Vec<&str> = w.packet.split(' ').collect();
        let specs = parse_packets(&args).map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let trace = sim.trace(&specs)?;
        text.push_str(&format!(
            "\n═══ {}. {} ═══\n\n{}\n\n$ chainwalk trace -r node.rules --host host.yaml {}\n\n",
            i + 1,
            w.name,
            wrap(w.explanation, 92),
            w.packet
        ));
        text.push_str(&trace_to_text(&trace, &labels(&specs)));
        json.push(serde_json::json!({
            "name": w.name,
            "packet": w.packet,
            "explanation": w.explanation,
            "trace": {
                "schema": chainwalk_report::SCHEMA,
                "assumptions": trace.assumptions,
                "outcomes": trace.outcomes.iter().map(outcome).collect::<Vec<_>>(),
            },
        }));
    }
    Ok(match format {
        Format::Text => text,
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&serde_json::json!({
                "schema": "chainwalk/demo/v1",
                "walks": json,
            }))?;
            s.push('\n');
            s
        }
    })
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.chars().count() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.chars().count();
    }
    out
}
