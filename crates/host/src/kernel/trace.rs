//! Parsing of nf_tables trace messages (`NFT_MSG_TRACE`) from netlink.

/// `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE`.
const NFT_TRACE_MSG_TYPE: u16 = (10 << 8) | 17;
const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;

/// `NFT_TRACETYPE_POLICY`.
pub(crate) const TRACETYPE_POLICY: u32 = 1;
/// `NFT_TRACETYPE_RETURN`.
pub(crate) const TRACETYPE_RETURN: u32 = 2;

/// One trace event as the kernel sent it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawTrace {
    pub(crate) family: u8,
    pub(crate) id: u32,
    pub(crate) table: String,
    pub(crate) chain: String,
    pub(crate) handle: Option<u64>,
    pub(crate) kind: u32,
    pub(crate) verdict: Option<i32>,
    pub(crate) verdict_chain: Option<String>,
    pub(crate) network_header: Option<Vec<u8>>,
    pub(crate) transport_header: Option<Vec<u8>>,
    pub(crate) iif: Option<u32>,
    pub(crate) oif: Option<u32>,
    pub(crate) mark: Option<u32>,
    pub(crate) policy: Option<u32>,
}

impl RawTrace {
    /// The verdict as nft spells it: `accept`, `drop`, `continue`, `return`,
    /// `jump CHAIN`, `goto CHAIN`, ….
    pub(crate) fn verdict_text(&self) -> String {
        let chain = self.verdict_chain.clone().unwrap_or_default();
        match self.verdict {
            None => "continue".into(),
            Some(0) => "drop".into(),
            Some(1) => "accept".into(),
            Some(2) => "stolen".into(),
            Some(3) => "queue".into(),
            Some(4) => "repeat".into(),
            Some(5) => "stop".into(),
            Some(-1) => "continue".into(),
            Some(-2) => "break".into(),
            Some(-3) => format!("jump {chain}"),
            Some(-4) => format!("goto {chain}"),
            Some(-5) => "return".into(),
            // Queue verdicts carry the queue number in the upper bits.
            Some(v) if v & 0xff == 3 => "queue".into(),
            Some(v) => format!("verdict {v}"),
        }
    }
}

fn attrs(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes([*data.first()?, *data.get(1)?]));
        let ty = u16::from_ne_bytes([*data.get(2)?, *data.get(3)?]) & 0x3fff;
        if len < 4 {
            return None;
        }
        let value = data.get(4..len)?;
        let padded = (len + 3) & !3;
        data = data.get(padded..).unwrap_or(&[]);
        Some((ty, value))
    })
}

fn be_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(0..4)?.try_into().ok()?))
}

fn string(v: &[u8]) -> String {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(v.get(..end).unwrap_or(&[])).into_owned()
}

/// Parses every trace message in one netlink datagram.
pub(crate) fn parse_datagram(mut buf: &[u8]) -> Vec<RawTrace> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let ty = u16::from_ne_bytes([buf[4], buf[5]]);
        if len < NLMSG_HDRLEN || len > buf.len() {
            break;
        }
        if ty == NFT_TRACE_MSG_TYPE && len >= NLMSG_HDRLEN + NFGENMSG_LEN {
            let family = buf[NLMSG_HDRLEN];
            let mut t = RawTrace {
                family,
                ..RawTrace::default()
            };
            for (attr, v) in attrs(&buf[NLMSG_HDRLEN + NFGENMSG_LEN..len]) {
                match attr {
                    1 => t.table = string(v),
                    2 => t.chain = string(v),
                    3 => {
                        t.handle = v
                            .get(0..8)
                            .and_then(|b| b.try_into().ok())
                            .map(u64::from_be_bytes)
                    }
                    4 => t.kind = be_u32(v).unwrap_or(0),
                    5 => {
                        for (va, vv) in attrs(v) {
                            match va {
                                1 => t.verdict = be_u32(vv).map(|x| x as i32),
                                2 => t.verdict_chain = Some(string(vv)),
                                _ => {}
                            }
                        }
                    }
                    6 => t.id = be_u32(v).unwrap_or(0),
                    8 => t.network_header = Some(v.to_vec()),
                    9 => t.transport_header = Some(v.to_vec()),
                    10 => t.iif = be_u32(v),
                    12 => t.oif = be_u32(v),
                    14 => t.mark = be_u32(v),
                    16 => t.policy = be_u32(v),
                    _ => {}
                }
            }
            out.push(t);
        }
        let step = (len + 3) & !3;
        buf = buf.get(step..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn attr(ty: u16, v: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(v);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    #[test]
    fn parses_a_trace_message() {
        let mut body = vec![2u8, 0, 0, 0];
        body.extend(attr(1, b"nat\0"));
        body.extend(attr(2, b"PREROUTING\0"));
        body.extend(attr(3, &7u64.to_be_bytes()));
        body.extend(attr(4, &3u32.to_be_bytes()));
        let mut verdict = attr(1, &(-3i32 as u32).to_be_bytes());
        verdict.extend(attr(2, b"KUBE-SERVICES\0"));
        body.extend(attr(5 | 0x8000, &verdict));
        body.extend(attr(6, &0xabcdu32.to_be_bytes()));
        let mut msg = Vec::new();
        msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&NFT_TRACE_MSG_TYPE.to_ne_bytes());
        msg.extend_from_slice(&[0u8; 10]);
        msg.extend(body);
        let events = parse_datagram(&msg);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!((e.table.as_str(), e.chain.as_str()), ("nat", "PREROUTING"));
        assert_eq!(e.handle, Some(7));
        assert_eq!(e.id, 0xabcd);
        assert_eq!(e.verdict_text(), "jump KUBE-SERVICES");
    }
}
