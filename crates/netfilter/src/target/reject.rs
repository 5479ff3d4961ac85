//! `-j REJECT`: drops the packet and answers with an ICMP error or a TCP reset.

use crate::model::Family;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// `--reject-with` answers for IPv4: canonical name, accepted aliases.
pub const REJECT_V4: &[(&str, &[&str])] = &[
    ("icmp-net-unreachable", &["net-unreach"]),
    ("icmp-host-unreachable", &["host-unreach"]),
    ("icmp-port-unreachable", &["port-unreach"]),
    ("icmp-proto-unreachable", &["proto-unreach"]),
    ("icmp-net-prohibited", &["net-prohib"]),
    ("icmp-host-prohibited", &["host-prohib"]),
    ("tcp-reset", &["tcp-rst"]),
    ("icmp-admin-prohibited", &["admin-prohib"]),
];

/// `--reject-with` answers for IPv6: canonical name, accepted aliases.
pub const REJECT_V6: &[(&str, &[&str])] = &[
    ("icmp6-no-route", &["no-route"]),
    ("icmp6-adm-prohibited", &["adm-prohibited"]),
    ("icmp6-addr-unreachable", &["addr-unreach"]),
    ("icmp6-port-unreachable", &["port-unreach"]),
    ("tcp-reset", &["tcp-rst"]),
    ("icmp6-policy-fail", &["policy-fail"]),
    ("icmp6-reject-route", &["reject-route"]),
];

/// The `REJECT` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reject {
    /// The canonical `--reject-with` name; `None` means the default port-unreachable.
    pub with: Option<&'static str>,
}

impl Reject {
    /// The answer sent, defaulting as the kernel does (port unreachable).
    pub fn answer(&self, family: Family) -> &'static str {
        self.with.unwrap_or(match family {
            Family::Ipv4 => "icmp-port-unreachable",
            Family::Ipv6 => "icmp6-port-unreachable",
        })
    }
}

impl TargetExt for Reject {
    const OPTIONS: &'static [&'static str] = &["--reject-with"];

    fn new() -> Self {
        Reject::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value(&opt)?;
        let table = match args.family {
            Family::Ipv4 => REJECT_V4,
            Family::Ipv6 => REJECT_V6,
        };
        let found = table
            .iter()
            .find(|(name, aliases)| *name == v.text || aliases.contains(&v.as_str()))
            .map(|(name, _)| *name);
        match found {
            Some(name) => {
                self.with = Some(name);
                Ok(())
            }
            None => {
                let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                let mut e = ParseError::new(v.span, format!("unknown reject type `{}`", v.text));
                if let Some(s) = crate::syntax::error::suggest(&v.text, names.iter().copied()) {
                    e = e.with_help(format!("did you mean `{s}`?"));
                }
                Err(e)
            }
        }
    }

    fn finish(&mut self, args: &Args<'_>, at: crate::model::Span) -> Result<(), ParseError> {
        if self.with == Some("tcp-reset") && args.proto != Some(crate::model::Protocol::TCP) {
            return Err(
                ParseError::new(at, "`--reject-with tcp-reset` requires `-p tcp`")
                    .with_help("the kernel refuses a TCP reset for packets that may not be TCP"),
            );
        }
        // iptables-save prints the default answer too.
        self.with = Some(self.answer(args.family));
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(w) = self.with {
            out.push_str(" --reject-with ");
            out.push_str(w);
        }
    }
}
