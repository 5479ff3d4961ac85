//! Reading rulesets from files or standard input, shared by the subcommands.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use chainwalk_netfilter::model::Family;
use chainwalk_netfilter::syntax::{Parsed, parse_any};

/// The address family of input that does not say (no `iptables-save` header, no program name).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum FamilyArg {
    /// IPv4 (`iptables`).
    Ipv4,
    /// IPv6 (`ip6tables`).
    Ipv6,
}

impl From<FamilyArg> for Family {
    fn from(f: FamilyArg) -> Family {
        match f {
            FamilyArg::Ipv4 => Family::Ipv4,
            FamilyArg::Ipv6 => Family::Ipv6,
        }
    }
}

/// One input, read and parsed.
pub(crate) struct Input {
    /// The name to show in messages (`<stdin>` for `-`).
    pub(crate) name: String,
    /// The text.
    pub(crate) text: String,
    /// The parse.
    pub(crate) parsed: Parsed,
}

/// Reads `path` (`-` = standard input) and parses it in whichever format it is.
pub(crate) fn read(path: &str, family: Option<FamilyArg>) -> anyhow::Result<Input> {
    let (name, bytes) = if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        ("<stdin>".to_string(), buf)
    } else {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read `{path}`"))?;
        (path.to_string(), bytes)
    };
    let Ok(text) = String::from_utf8(bytes) else {
        bail!("`{name}` is not UTF-8 text");
    };
    let parsed = parse_any(&text, family.map(Family::from));
    Ok(Input { name, text, parsed })
}

/// Refuses `-` given more than once (standard input can be read only once).
pub(crate) fn check_stdin_once(paths: &[String]) -> anyhow::Result<()> {
    if paths.iter().filter(|p| *p == "-").count() > 1 {
        bail!("`-` (standard input) is given more than once");
    }
    Ok(())
}
