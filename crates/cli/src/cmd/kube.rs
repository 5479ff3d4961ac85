//! `chainwalk kube`: the rules upstream kube-proxy (iptables mode) writes for a cluster.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chainwalk_kubeproxy::{
    Case, Cluster, IpFamily, KubeProxyConfiguration, NodeTables, Proxier, ProxyConfig, Warning,
};

/// Render kube-proxy's rules from Services and EndpointSlices.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: KubeCommand,
}

#[derive(clap::Subcommand)]
enum KubeCommand {
    /// Print the iptables-restore input kube-proxy writes for the cluster's objects (or for a
    /// conformance case with `--case`).
    Render(RenderArgs),
    /// Render the node's rules for the cluster's objects and trace a packet through them,
    /// naming the Service or endpoint behind every kube-proxy chain on the way.
    Trace(TraceArgs),
}

/// Arguments of `kube trace`.
#[derive(clap::Args)]
struct TraceArgs {
    #[command(flatten)]
    render: RenderArgs,
    /// The host: a YAML file (interfaces, addresses, routes, bridges, forwarding). Without it
    /// chainwalk assumes a host and says what it assumed.
    #[arg(long, value_name = "HOST")]
    host: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// The packet, with iptables' option letters (`-p tcp -s 10.0.0.2 -d 10.96.0.10 --dport
    /// 53 -i eth0`; `--then reply` continues the flow), as for `chainwalk trace`.
    #[arg(
        value_name = "PACKET",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..,
        required = true
    )]
    packet: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    /// For people.
    Text,
    /// The chainwalk/trace/v1 JSON document.
    Json,
}

#[derive(clap::Args)]
struct RenderArgs {
    /// Kubernetes objects as `kubectl get nodes,services,endpointslices -A -o yaml|json`
    /// prints them.
    #[arg(long, required_unless_present = "case")]
    objects: Option<PathBuf>,
    /// kube-proxy's configuration (KubeProxyConfiguration YAML).
    #[arg(long, required_unless_present = "case")]
    config: Option<PathBuf>,
    /// Which family's proxier to run.
    #[arg(long, value_enum, default_value = "ipv4")]
    family: FamilyArg,
    /// The objects of the previous sync: print the partial sync from them to `--objects`.
    #[arg(long, conflicts_with = "case")]
    previous: Option<PathBuf>,
    /// The node's name, when kube-proxy's configuration does not override it.
    #[arg(long)]
    node_name: Option<String>,
    /// Print the whole ruleset the node holds after the sync (iptables-save form, built-in
    /// chains and kube-proxy's jump rules included) instead of the restore input.
    #[arg(long)]
    node_view: bool,
    /// The host's iptables lacks `--random-fully` (older than 1.6.2).
    #[arg(long)]
    no_random_fully: bool,
    /// The host has kube-proxy's nfacct counters.
    #[arg(long)]
    nfacct: bool,
    /// Replay a conformance case directory (input.yaml with the case and its objects).
    #[arg(long, conflicts_with_all = ["objects", "config"])]
    case: Option<PathBuf>,
    /// With `--case`: the sync after step N (0 = the first sync).
    #[arg(long, default_value_t = 0, requires = "case")]
    step: usize,
    /// With `--case`: print in the case's canonical order (as its expected.rules files are).
    #[arg(long, requires = "case")]
    canonical: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FamilyArg {
    Ipv4,
    Ipv6,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        KubeCommand::Render(r) => render(r),
        KubeCommand::Trace(t) => trace(t),
    }
}

fn trace(args: TraceArgs) -> anyhow::Result<ExitCode> {
    use chainwalk_netfilter::eval::Simulator;
    use chainwalk_netfilter::host::Host;
    use chainwalk_netfilter::packet::parse_packets;
    use chainwalk_netfilter::syntax::parse_save;

    let (mut tables, outputs) = match &args.render.case {
        Some(dir) => render_case(dir, args.render.step)?,
        None => render_objects(&args.render)?,
    };
    for o in &outputs {
        tables.apply(o);
    }
    let rules = tables.to_save()?;
    let parsed = parse_save(&rules, None);
    if parsed.has_errors() {
        bail!("the rendered rules do not parse: {:?}", parsed.diagnostics);
    }
    let host = match &args.host {
        Some(h) => Host::from_yaml(&read(h)?).with_context(|| format!("in `{}`", h.display()))?,
        None => {
            let ifaces: Vec<_> = args
                .packet
                .windows(2)
                .filter(|w| w[0] == "-i" || w[0] == "--in-interface")
                .filter_map(|w| chainwalk_netfilter::model::IfName::new(&w[1]))
                .collect();
            Host::assumed(&ifaces)
        }
    };
    let specs = parse_packets(&args.packet)
        .map_err(|e| anyhow::anyhow!("bad packet description: {}", e.message))?;
    let trace = Simulator::new(&parsed.ruleset, &host).trace(&specs)?;
    match args.format {
        OutputFormat::Json => print!("{}", chainwalk_report::trace_to_json(&trace)),
        OutputFormat::Text => {
            print!(
                "{}",
                chainwalk_report::trace_to_text(&trace, &super::trace::labels(&specs))
            );
            let legend = chainwalk_kubeproxy::chain_legend(&rules);
            let mut used: Vec<&String> = legend
                .keys()
                .filter(|chain| {
                    trace.outcomes.iter().any(|o| {
                        o.steps
                            .iter()
                            .any(|s| s.events.iter().any(|e| e.chain() == *chain))
                    })
                })
                .collect();
            used.sort();
            if !used.is_empty() {
                println!("\nkube-proxy chains on the way:");
                for chain in used {
                    println!("  {chain} = {}", legend[chain]);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn report(warnings: &[Warning]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

fn render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let (mut tables, outputs) = match &args.case {
        Some(dir) => render_case(dir, args.step)?,
        None => render_objects(&args)?,
    };
    let Some(last) = outputs.last() else {
        bail!("nothing was rendered");
    };
    if args.node_view {
        for o in &outputs {
            tables.apply(o);
        }
        print!("{}", tables.to_save()?);
    } else if args.canonical {
        print!("{}", chainwalk_kubeproxy::canonical_order(&last.restore));
    } else {
        print!("{}", last.restore);
    }
    Ok(ExitCode::SUCCESS)
}

/// The node's tables (empty, to replay the syncs into) and every sync's output, in order.
type Rendered = (NodeTables, Vec<chainwalk_kubeproxy::SyncOutput>);

fn render_objects(args: &RenderArgs) -> anyhow::Result<Rendered> {
    let (Some(objects), Some(config)) = (&args.objects, &args.config) else {
        bail!("`--objects` and `--config` are required without `--case`");
    };
    let family = match args.family {
        FamilyArg::Ipv4 => IpFamily::V4,
        FamilyArg::Ipv6 => IpFamily::V6,
    };
    let kpc = KubeProxyConfiguration::from_yaml(&read(config)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
    let host = ProxyConfig {
        random_fully: !args.no_random_fully,
        nfacct_invalid_dropped: args.nfacct,
        nfacct_localhost_nodeports: args.nfacct,
        ..ProxyConfig::default()
    };
    let load = |path: &Path| -> anyhow::Result<Cluster> {
        let (cluster, warnings) = Cluster::from_objects(&read(path)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        report(&warnings);
        Ok(cluster)
    };
    let cluster = load(objects)?;
    let cfg = kpc.resolve(family, args.node_name.as_deref(), &cluster, &host);
    let mut proxier = Proxier::new(cfg);
    let mut outputs = Vec::new();
    if let Some(prev) = &args.previous {
        let before = load(prev)?;
        outputs.push(proxier.sync(&before));
    }
    outputs.push(proxier.sync(&cluster));
    Ok((NodeTables::new(family), outputs))
}

fn render_case(dir: &Path, step: usize) -> anyhow::Result<Rendered> {
    let input = read(&dir.join("input.yaml"))?;
    let (case, mut cluster, mut warnings) =
        Case::load(&input).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    if step > case.steps.len() {
        bail!("the case has {} steps; there is no step {step}", case.steps.len());
    }
    let cfg = case.proxy_config();
    let family = cfg.family;
    let mut proxier = Proxier::new(cfg);
    let mut outputs = vec![proxier.sync(&cluster)];
    for i in 0..step {
        if case.apply_step(i, &mut cluster, &mut warnings) {
            proxier.request_full_sync();
        }
        outputs.push(proxier.sync(&cluster));
    }
    report(&warnings);
    Ok((NodeTables::new(family), outputs))
}
