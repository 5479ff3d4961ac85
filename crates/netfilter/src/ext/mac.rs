//! `-m mac --mac-source ADDR`: the Ethernet source address of arriving packets.

use crate::ext::MatchExt;
use crate::ext::common::push_neg;
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// Whether `text` is a redacted MAC address (`XX:XX:XX:XX:XX:XX`), as published rulesets
/// often carry: the kernel refuses it, but it is not a typo worth stopping for.
pub fn is_placeholder(text: &str) -> bool {
    text.contains(['X', 'x']) && text.chars().all(|c| matches!(c, 'X' | 'x' | ':'))
}

/// The `mac` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mac {
    /// `--mac-source`.
    pub source: Option<Neg<[u8; 6]>>,
}

impl MatchExt for Mac {
    const OPTIONS: &'static [&'static str] = &["--mac-source"];

    fn new() -> Self {
        Mac::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        let bad = || {
            ParseError::new(v.span, format!("invalid MAC address `{}`", v.text))
                .with_help("a MAC address is six hex bytes, e.g. 00:11:22:aa:bb:cc")
        };
        let parts: Vec<&str> = v.text.split(':').collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut mac = [0u8; 6];
        for (slot, p) in mac.iter_mut().zip(parts) {
            if p.is_empty() || p.len() > 2 {
                return Err(bad());
            }
            *slot = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        self.source = Some(Neg {
            negated: opt.negated,
            value: mac,
        });
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.source.is_none() {
            return Err(ParseError::new(at, "match `mac` requires `--mac-source`"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(m) = &self.source {
            push_neg(out, m.negated);
            let v = m.value;
            out.push_str(&format!(
                " --mac-source {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                v[0], v[1], v[2], v[3], v[4], v[5]
            ));
        }
    }
}

impl Mac {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m mac`: the packet's Ethernet source address is not modelled".into(),
        )
    }
}
