//! `chainwalk trace`: follow a packet (or a sequence) through a ruleset on a host.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chainwalk_netfilter::eval::Simulator;
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::ipset::IpSets;
use chainwalk_netfilter::model::{IfName, Ruleset};
use chainwalk_netfilter::packet::{PacketSpec, parse_packets};
use chainwalk_netfilter::recent::RecentLists;
use chainwalk_netfilter::syntax::parse_any;
use chainwalk_report::{trace_to_json, trace_to_text};

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// For people: one line per step, outcomes with their probabilities.
    #[default]
    Text,
    /// The `chainwalk/trace/v1` JSON document.
    Json,
}

/// Trace a packet through the netfilter hooks: which rules it hits, where it goes, and with
/// what probability.
///
/// The packet is described with iptables' own options, e.g.
/// `-p tcp -s 192.168.49.1 --sport 40000 -d 10.100.29.239 --dport 80 -i eth0`.
/// Without `-i` it comes from a local process. Further options: `--syn`,
/// `--tcp-flags MASK SET`, `--mark M`, `--icmp-type T[/C]`; for an ICMP error
/// `--quote PROTO,SRC,SPORT,DST,DPORT` (the packet it answers: conntrack relates the error
/// to that packet's connection); for a local packet the sending socket's owner
/// `--uid U --gid G [--groups G,..]` or `--socket none|kernel` (`-m owner`);
/// `--time SECONDS` since the ruleset was loaded (`-m limit`). Continue the flow with
/// `--then reply` (the peer's answer) or `--then again` (another packet of the same flow), or
/// `--then` and a new description; conntrack carries over.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The ruleset: an iptables-save file or a script of iptables commands (`-` = stdin).
    #[arg(short = 'r', long = "rules", value_name = "RULES")]
    pub(crate) rules: String,
    /// The host: a YAML file (interfaces, addresses, routes, bridges, forwarding).
    #[arg(long, value_name = "HOST")]
    pub(crate) host: Option<String>,
    /// The host's interfaces from `ip -j address show` (instead of --host).
    #[arg(long, value_name = "FILE", conflicts_with = "host")]
    pub(crate) ip_address: Option<String>,
    /// The host's routes from `ip -j route show` (with --ip-address).
    #[arg(long, value_name = "FILE", requires = "ip_address")]
    pub(crate) ip_route: Option<String>,
    /// Bridge ports from `bridge -j link show` (with --ip-address).
    #[arg(long, value_name = "FILE", requires = "ip_address")]
    pub(crate) bridge_link: Option<String>,
    /// With --ip-address: forwarding is off (ip_forward=0); on by default.
    #[arg(long, requires = "ip_address")]
    pub(crate) no_forwarding: bool,
    /// With --ip-address: bridged traffic passes through iptables
    /// (net.bridge.bridge-nf-call-iptables=1).
    #[arg(long, requires = "ip_address")]
    pub(crate) bridge_nf_call_iptables: bool,
    /// With --ip-address: the host has no IPsec policies or states (`ip xfrm policy` and
    /// `ip xfrm state` print nothing), so `-m policy --dir out` is decided.
    #[arg(long, requires = "ip_address")]
    pub(crate) no_ipsec: bool,
    /// Connections the host already tracks, as `conntrack -L` prints them (the trace starts
    /// from this table).
    #[arg(long, value_name = "FILE")]
    pub(crate) conntrack: Option<String>,
    /// `-m recent` lists: `[NAME]` lines, each followed by addresses (or the lines of
    /// /proc/net/xt_recent/NAME).
    #[arg(long, value_name = "FILE")]
    pub(crate) recent: Option<String>,
    /// The host's ipsets, as `ipset save` prints them (for `-m set`).
    #[arg(long, value_name = "FILE")]
    pub(crate) ipset: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Trace many packets against the one ruleset: FILE (`-` = stdin) holds one packet
    /// description per line (the PACKET syntax; `#` starts a comment) or JSON objects, one a
    /// line, `{"packet": "-p tcp …", "id": …}`. Writes one compact `chainwalk/trace/v1`
    /// document per packet and line (with the `id` when given; `{"line": N, "error": …}` for a
    /// packet that cannot be traced).
    #[arg(long, value_name = "FILE")]
    pub(crate) batch: Option<String>,
    /// The packet description (see above).
    #[arg(
        value_name = "PACKET",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..,
        required_unless_present = "batch"
    )]
    pub(crate) packet: Vec<String>,
}

/// Runs the subcommand.
pub(crate) fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    pull_options(&mut args)?;
    if let Some(file) = args.batch.clone() {
        return super::batch::run(&args, &file);
    }
    let rules_text = read(&args.rules)?;
    let ruleset = load_rules(&args.rules, &rules_text)?;
    let host = load_host(&args, &named_ifaces(&args.packet))?;
    let specs = parse_packets(&args.packet).map_err(|e| {
        let at = e
            .arg
            .and_then(|i| args.packet.get(i))
            .map(|a| format!(" (at `{a}`)"))
            .unwrap_or_default();
        let help = e.help.map(|h| format!("\n  help: {h}")).unwrap_or_default();
        anyhow::anyhow!("bad packet description: {}{at}{help}", e.message)
    })?;
    let (sets, recent, table) = load_state(&args)?;
    let mut sim = Simulator::new(&ruleset, &host);
    if let Some(s) = &sets {
        sim = sim.with_ipsets(s);
    }
    if let Some(r) = &recent {
        sim = sim.with_recent(r);
    }
    let trace = sim.trace_from(&specs, &table)?;
    match args.format {
        Format::Text => print!("{}", trace_to_text(&trace, &labels(&specs))),
        Format::Json => print!("{}", trace_to_json(&trace)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The host from `--host` or `--ip-address` (and friends); without either, a host with the
/// interfaces the packets name.
pub(crate) fn load_host(args: &Args, ifaces: &[IfName]) -> anyhow::Result<Host> {
    Ok(match (&args.host, &args.ip_address) {
        (Some(h), _) => Host::from_yaml(&read(h)?).with_context(|| format!("in `{h}`"))?,
        (None, Some(a)) => {
            let addrs = read(a)?;
            let routes = args.ip_route.as_deref().map(read).transpose()?;
            let links = args.bridge_link.as_deref().map(read).transpose()?;
            let mut h = Host::from_ip_json(
                &addrs,
                routes.as_deref(),
                links.as_deref(),
                !args.no_forwarding,
                !args.no_forwarding,
            )?;
            h.bridge_nf_call_iptables = args.bridge_nf_call_iptables;
            h.bridge_nf_call_ip6tables = args.bridge_nf_call_iptables;
            if args.no_ipsec {
                h.ipsec = Some(false);
            }
            h
        }
        (None, None) => Host::assumed(ifaces),
    })
}

/// The ipsets, `-m recent` lists and conntrack table the options give.
pub(crate) fn load_state(
    args: &Args,
) -> anyhow::Result<(
    Option<IpSets>,
    Option<RecentLists>,
    chainwalk_netfilter::conntrack::Table,
)> {
    let sets = match &args.ipset {
        Some(f) => Some(IpSets::parse(&read(f)?).with_context(|| format!("in `{f}`"))?),
        None => None,
    };
    let recent = match &args.recent {
        Some(f) => {
            Some(RecentLists::parse(&read(f)?).map_err(|e| anyhow::anyhow!("in `{f}`: {e}"))?)
        }
        None => None,
    };
    let table = match &args.conntrack {
        Some(f) => chainwalk_netfilter::conntrack::Table::parse_conntrack_list(&read(f)?)
            .map_err(|e| anyhow::anyhow!("in `{f}`: {e}"))?,
        None => Default::default(),
    };
    Ok((sets, recent, table))
}

/// Names for the packets of a sequence, for the text report.
pub(crate) fn labels(specs: &[PacketSpec]) -> Vec<String> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| match s {
            PacketSpec::Desc(_) => format!("packet {}", i + 1),
            PacketSpec::Reply { .. } => format!("packet {} (reply)", i + 1),
            PacketSpec::Again { .. } => format!("packet {} (same flow)", i + 1),
        })
        .collect()
}

/// Takes `--format`, `--host`, `-r` written after the packet description out of it.
fn pull_options(args: &mut Args) -> anyhow::Result<()> {
    let mut rest = Vec::new();
    let mut it = std::mem::take(&mut args.packet).into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--format" => match it.next().as_deref() {
                Some("text") => args.format = Format::Text,
                Some("json") => args.format = Format::Json,
                other => bail!("`--format` is text or json, not `{}`", other.unwrap_or("")),
            },
            "--host" => args.host = it.next(),
            "--ipset" => args.ipset = it.next(),
            "--conntrack" => args.conntrack = it.next(),
            "--recent" => args.recent = it.next(),
            "-r" | "--rules" => {
                if let Some(r) = it.next() {
                    args.rules = r;
                }
            }
            _ => rest.push(a),
        }
    }
    args.packet = rest;
    Ok(())
}

/// The interfaces the packet names (a name that is not valid is left to the packet's parser
/// to report).
fn named_ifaces(packet: &[String]) -> Vec<IfName> {
    packet
        .windows(2)
        .filter(|w| w[0] == "-i" || w[0] == "--in-interface")
        .filter_map(|w| IfName::new(&w[1]))
        .collect()
}

pub(crate) fn read(path: &str) -> anyhow::Result<String> {
    let bytes = if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        buf
    } else {
        std::fs::read(path).with_context(|| format!("cannot read `{path}`"))?
    };
    String::from_utf8(bytes).with_context(|| format!("`{path}` is not UTF-8 text"))
}

/// Parses a ruleset in either form: `iptables-save` output, or a script of `iptables …`
/// commands (each command's table collected into a restore section, in order).
pub(crate) fn load_rules(name: &str, text: &str) -> anyhow::Result<Ruleset> {
    let parsed = parse_any(text, None);
    if parsed.has_errors() {
        let msgs: Vec<String> = parsed
            .diagnostics
            .iter()
            .filter(|d| d.severity == chainwalk_netfilter::syntax::Severity::Error)
            .map(|d| {
                let at = d.error.span;
                format!("{name}:{}:{}: {}", at.line, at.col, d.error.message)
            })
            .take(5)
            .collect();
        bail!("`{name}` has errors:\n  {}", msgs.join("\n  "));
    }
    Ok(parsed.ruleset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_script_loads_like_the_save_file() {
        let script = include_str!("../../../../testdata/example-node/article-rules.sh");
        let rs = load_rules("article-rules.sh", script).unwrap();
        let nat = rs
            .table(chainwalk_netfilter::model::TableName::Nat)
            .unwrap();
        assert_eq!(
            nat.chain("KUBE-SVC-QV4NJDQ2TL4A6VRO").unwrap().rules.len(),
            3
        );
    }

    #[test]
    fn scripts_keep_their_family_and_quoting() {
        let script = "#!/bin/sh\nsudo ip6tables -w -t filter -A INPUT -s 2001:db8::/32 \\\n  -m comment --comment \"two words\" -j DROP\n";
        let rs = load_rules("v6.sh", script).unwrap();
        assert_eq!(rs.family, Some(chainwalk_netfilter::model::Family::Ipv6));
        let filter = rs
            .table(chainwalk_netfilter::model::TableName::Filter)
            .unwrap();
        assert_eq!(filter.chain("INPUT").unwrap().rules.len(), 1);
    }

    #[test]
    fn script_errors_name_the_file() {
        let err = load_rules("bad.sh", "iptables -A INPUT -p tcp --dport 99999 -j ACCEPT\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("`bad.sh` has errors"), "{text}");
        assert!(text.contains("bad.sh:1:"), "{text}");
        let script = "#!/bin/sh\nset -e\niptables -A INPUT -j DROP\n";
        let err = load_rules("s.sh", script).unwrap_err().to_string();
        assert!(err.contains("s.sh:2:1: expected an iptables command"), "{err}");
    }
}
